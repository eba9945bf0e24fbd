/**
 * `--limits NAME|FILE`: the device limits a plan is held to. A profile name (`webgpu-default`), `device` (this
 * machine's adapter), or a JSON file of GPUSupportedLimits fields, such as the `limits` object of
 * `--plan --json` printed on the GPU machine: `{"maxStorageBufferBindingSize": 2147483648, ...}`.
 */
import { deviceLimits, LIMIT_PROFILES, LimitsError, limitsFrom, type PlanLimits } from "../compile/limits.ts";
import { UsageError } from "./_flags.ts";

/** Largest limits file read: a dump of every WebGPU limit is under 2 KiB. */
const MAX_BYTES = 64 * 1024;

/** The limits `--limits value` names; a UsageError (one line naming the flag) otherwise. */
export async function limitsFlag(value: string): Promise<PlanLimits> {
  if (Object.hasOwn(LIMIT_PROFILES, value)) return LIMIT_PROFILES[value];
  if (value === "device") {
    const l = await deviceLimits();
    if (!l) throw new UsageError("--limits device: no WebGPU adapter found on this machine");
    return l;
  }
  const fail = (why: string) => new UsageError(`--limits ${value}: ${why}`);
  let text: string;
  try {
    const info = await Deno.stat(value);
    if (!info.isFile) throw fail("expected a JSON file of limits");
    if (info.size > MAX_BYTES) throw fail(`expected a small JSON file, found ${info.size} bytes`);
    text = await Deno.readTextFile(value);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw fail(
      `neither a profile (${[...Object.keys(LIMIT_PROFILES), "device"].join(", ")}) nor a readable file: ` +
        (e as Error).message.split("\n")[0],
    );
  }
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch (e) {
    throw fail(`not JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw fail("expected a JSON object of limits by name");
  }
  try {
    return limitsFrom(record as Record<string, unknown>, `file ${value}`);
  } catch (e) {
    if (e instanceof LimitsError) throw fail(e.message);
    throw e;
  }
}

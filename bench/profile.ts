/**
 * Where the workload's training step spends its time: every dispatch of the compiled step timed on its own
 * (one dispatch repeated in one pass per submit, awaited, minus an empty submit), then summed by kernel and
 * by op. Process CPU time (the adapter's threads run in this process) is reported beside wall time: on a
 * shared machine it is the steadier of the two. One dispatch per submit would mostly time the submit's
 * ~10 ms wait; repeating it in one pass keeps its bind group bound, so costs paid per bind-group switch
 * show only in the whole step's time, printed beside the sum of the parts (bench/NOTES.md, lever 1).
 *
 * Run: XDG_RUNTIME_DIR=/tmp deno run -A bench/profile.ts [--lm gpt2-30m] [--top 25] [--rounds 3] [--json]
 * (`--lm` profiles a real-shape GPT-2 workload of bench/gpt2.ts instead of the ViT step.)
 */
import process from "node:process";
import { parseArgs } from "node:util";
import type { Dispatch } from "../src/compile/program.ts";
import { compileLmStep, GPT2_30M, GPT2_SMALL, lmSpec, type LmWorkload, writeLmFiles } from "./gpt2.ts";
import { workloadStep } from "./mixtune.ts";
import { WORKLOAD } from "./peers/workload.ts";

/** One dispatch's cost. */
export interface DispatchCost {
  index: number;
  kernel: string;
  label: string;
  workgroups: readonly number[];
  /** Wall and process CPU milliseconds per dispatch (best of the rounds). */
  ms: number;
  cpuMs: number;
}

/** Wall and CPU ms of one submit holding `reps` copies of `d` (none for `d` undefined). */
async function submit(
  device: GPUDevice,
  d: Dispatch | undefined,
  reps: number,
): Promise<{ ms: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  if (d) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(...d.workgroups);
  }
  pass.end();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
}

/**
 * Times each dispatch: the repetition count grows until a submit takes `targetMs`, then per round the
 * dispatch-free submit's cost is subtracted and divided by the count; the minimum over rounds is kept.
 */
export async function profileDispatches(
  device: GPUDevice,
  dispatches: readonly Dispatch[],
  opts: { rounds?: number; targetMs?: number } = {},
): Promise<DispatchCost[]> {
  const rounds = opts.rounds ?? 3;
  const target = opts.targetMs ?? 20;
  const out: DispatchCost[] = [];
  for (const [index, d] of dispatches.entries()) {
    await submit(device, d, 1); // compile on first use
    let reps = 1;
    while (reps < 4096 && (await submit(device, d, reps)).ms < target) reps *= 2;
    let ms = Infinity, cpuMs = Infinity;
    for (let r = 0; r < rounds; r++) {
      const empty = await submit(device, undefined, 0);
      const full = await submit(device, d, reps);
      ms = Math.min(ms, Math.max(0, full.ms - empty.ms) / reps);
      cpuMs = Math.min(cpuMs, Math.max(0, full.cpuMs - empty.cpuMs) / reps);
    }
    out.push({ index, kernel: d.kernel, label: d.label, workgroups: d.workgroups, ms, cpuMs });
  }
  return out;
}

/** Sums `costs` by `key`, largest first. */
export function aggregate(
  costs: readonly DispatchCost[],
  key: (c: DispatchCost) => string,
): { key: string; count: number; ms: number; cpuMs: number }[] {
  const by = new Map<string, { key: string; count: number; ms: number; cpuMs: number }>();
  for (const c of costs) {
    const k = key(c);
    const e = by.get(k) ?? { key: k, count: 0, ms: 0, cpuMs: 0 };
    e.count++;
    e.ms += c.ms;
    e.cpuMs += c.cpuMs;
    by.set(k, e);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

/** The op label without the node's name: op and output shape (`matmul [1024, 192]`). */
function opShape(label: string): string {
  const [op, , ...shape] = label.split(" ");
  return shape.length ? `${op} ${shape.join(" ")}` : op;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      top: { type: "string", default: "25" },
      rounds: { type: "string", default: "3" },
      json: { type: "boolean", default: false },
      lm: { type: "string" },
    },
  });
  const lms: Record<string, LmWorkload> = { "gpt2-30m": GPT2_30M, "gpt2-small": GPT2_SMALL };
  const lm = values.lm === undefined ? undefined : lms[values.lm];
  if (values.lm !== undefined && !lm) {
    console.error(`--lm: expected one of ${Object.keys(lms).join(", ")}, found ${values.lm}`);
    Deno.exit(2);
  }
  const step = lm
    ? await compileLmStep(lm, lmSpec(lm, await writeLmFiles(lm)))
    : await workloadStep(WORKLOAD);
  const lr = lm ? lm.lr : WORKLOAD.lr;
  const device = step.store.device;
  // Whole steps first, for comparison with the sum of the parts.
  const whole: { ms: number; cpuMs: number }[] = [];
  for (let i = 0; i < 6; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    step.run(lr);
    await device.queue.onSubmittedWorkDone();
    const c = process.cpuUsage(c0);
    if (i >= 2) whole.push({ ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 });
  }
  const costs = await profileDispatches(device, step.program.dispatches, { rounds: Number(values.rounds) });
  step.destroy();
  if (values.json) {
    console.log(JSON.stringify({ whole, costs }, null, 1));
    Deno.exit(0);
  }
  const total = costs.reduce((a, c) => a + c.ms, 0);
  const totalCpu = costs.reduce((a, c) => a + c.cpuMs, 0);
  const best = (k: "ms" | "cpuMs") => Math.min(...whole.map((w) => w[k]));
  console.log(`load average ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  console.log(
    `${costs.length} dispatches; sum of parts ${total.toFixed(1)} ms wall, ${totalCpu.toFixed(1)} ms CPU; ` +
      `whole step (best of ${whole.length}) ${best("ms").toFixed(1)} ms wall, ${
        best("cpuMs").toFixed(1)
      } ms CPU`,
  );
  const row = (k: string, n: number, ms: number, cpu: number) =>
    `${k.slice(0, 58).padEnd(58)} ${String(n).padStart(4)} ${ms.toFixed(2).padStart(9)} ${
      (100 * ms / total).toFixed(1).padStart(6)
    }% ${cpu.toFixed(2).padStart(9)}`;
  const top = Number(values.top);
  for (
    const [title, key] of [
      ["kernel", (c: DispatchCost) => c.kernel],
      ["op and shape", (c: DispatchCost) => opShape(c.label)],
    ] as const
  ) {
    console.log(`\nby ${title}${" ".repeat(58 - 3 - title.length)}    n   wall ms  share    cpu ms`);
    for (const e of aggregate(costs, key).slice(0, top)) console.log(row(e.key, e.count, e.ms, e.cpuMs));
  }
  console.log(`\nslowest dispatches`);
  for (const c of [...costs].sort((a, b) => b.ms - a.ms).slice(0, top)) {
    console.log(`${row(`#${c.index} ${c.label}`, 1, c.ms, c.cpuMs)}  wg ${c.workgroups.join("x")}`);
  }
}

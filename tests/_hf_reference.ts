/**
 * The checkpoints of tests/fixtures/hf_reference.py (an independent PyTorch implementation), written once per
 * test file run, and whether torch is there to write them: without it the parity tests are ignored by name,
 * except in CI (CI=true), where they run and fail.
 */
import assert from "node:assert/strict";

const PYTHON = "/usr/bin/python3";
const FIXTURE = new URL("./fixtures/hf_reference.py", import.meta.url).pathname;

async function torchMissing(): Promise<string | null> {
  try {
    const out = await new Deno.Command(PYTHON, { args: ["-c", "import torch"], stderr: "piped" }).output();
    return out.success ? null : `${PYTHON} cannot import torch`;
  } catch (e) {
    return `${PYTHON} cannot run (${(e as Error).message})`;
  }
}

/** Why torch cannot run (null when it can), and whether this is CI. */
export const torchStatus: { missing: string | null; ci: boolean } = {
  missing: await torchMissing(),
  ci: Deno.env.get("CI") === "true",
};

let fixtures: Promise<string> | undefined;
/** Writes the checkpoints once per test file run; returns their folder. */
export function fixtureDir(): Promise<string> {
  fixtures ??= (async () => {
    if (torchStatus.missing) throw new Error(`pretrained parity needs torch: ${torchStatus.missing}`);
    const dir = await Deno.makeTempDir({ prefix: "mixtune_hf_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    const out = await new Deno.Command(PYTHON, { args: [FIXTURE, dir], stdout: "piped", stderr: "piped" })
      .output();
    if (!out.success) throw new Error(`${FIXTURE} failed:\n${new TextDecoder().decode(out.stderr)}`);
    return dir;
  })();
  return fixtures;
}

/** |a - b|_2 / |b|_2; NaN anywhere fails. */
export function normRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  const e = Math.sqrt(num / den);
  return Number.isNaN(e) ? Infinity : e;
}

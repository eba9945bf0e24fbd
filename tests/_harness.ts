/** Test helpers: the GPU (required in CI), random data, GPU-vs-float64 checks, finite differences. */
import "../src/graph/ops/mod.ts";
import { gpu } from "../src/gpu/device.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { constant, type Node } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { apply } from "../src/graph/op.ts";

/** The device, or null when there is none outside CI; in CI (`CI=true`) a missing adapter fails the test. */
export async function testDevice(): Promise<GPUDevice | null> {
  try {
    return (await gpu()).device;
  } catch (e) {
    if (Deno.env.get("CI") === "true") throw e;
    console.warn(`GPU test skipped: ${(e as Error).message}`);
    return null;
  }
}

/** A deterministic generator of uniform [-1, 1) floats (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

/** `n` random floats in [lo, hi). */
export function randoms(n: number, seed: number, lo = -1, hi = 1): Float32Array<ArrayBuffer> {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => lo + (r() + 1) / 2 * (hi - lo));
}

/**
 * Largest element-wise relative error, |a - b| / max(|b|, floor * max|b|): relative where values are
 * not tiny, and relative to the tensor's scale where they are (so cancellation near 0 is not amplified).
 */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor * scale, 1e-30);
    if (!(d <= worst)) worst = d; // NaN propagates as a failure
  }
  return worst;
}

/**
 * Runs `outputs` on the GPU (planned buffers poisoned with NaN first) and on the float64 reference;
 * returns the largest relative error per output.
 */
export async function gpuVsCpu(
  device: GPUDevice,
  outputs: Node[],
  feeds: Map<Node, Float32Array>,
): Promise<number[]> {
  const program = await Program.compile(device, outputs, { poison: true });
  for (const [n, v] of feeds) program.write(n, v);
  program.run();
  const ref = evaluate(outputs, feeds);
  const errs: number[] = [];
  for (const o of outputs) errs.push(relError(await program.read(o), ref.get(o)!));
  program.destroy();
  return errs;
}

/**
 * Compares autodiff gradients of `sum(out * R)` (R random, so every output element matters) with central
 * finite differences in float64; returns the largest relative error over all `wrt`.
 */
export function gradCheck(
  out: Node,
  wrt: Node[],
  feeds: Map<Node, Float32Array>,
  seed = 7,
  h = 1e-6,
): number {
  const rNode = constant(randoms(out.size, seed), out.shape, "R");
  const loss = apply("sum_all", [apply("mul", [out, rNode])]);
  const grads = gradients(loss, wrt);
  const f64 = new Map<Node, Float64Array>([...feeds].map(([k, v]) => [k, Float64Array.from(v)]));
  const analytic = evaluate([...grads.values()], f64);
  let worst = 0;
  for (const w of wrt) {
    const base = f64.get(w)!;
    const numeric = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const keep = base[i];
      base[i] = keep + h;
      const up = evaluate([loss], f64).get(loss)![0];
      base[i] = keep - h;
      const down = evaluate([loss], f64).get(loss)![0];
      base[i] = keep;
      numeric[i] = (up - down) / (2 * h);
    }
    worst = Math.max(worst, relError(analytic.get(grads.get(w)!)!, numeric));
  }
  return worst;
}

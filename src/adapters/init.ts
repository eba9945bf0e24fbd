/** Initial LoRA weights: random down matrices A, zero up matrices B, so every adapter starts as a no-op. */

import type { LoraInit, Placement } from "./placement.ts";
import { Rng } from "../random.ts";

/** One LoRA branch: `A` is [rank, in] and `B` is [out, rank], row-major (PEFT's `lora_A` / `lora_B`). */
export interface LoraBranch {
  a: Float32Array;
  b: Float32Array;
}

/**
 * The weights of one placement. `branches[0]` is weighted by the gate g (the "hq" branch of PETALface) and,
 * for gated placements, `branches[1]` by 1 - g (the "lq" branch). Plain LoRA has one branch and g = 1.
 */
export interface AdapterWeights {
  path: string;
  branches: LoraBranch[];
}

/** Bound of PyTorch's `kaiming_uniform_(w, a)` for a weight with `fanIn` inputs: sqrt(6 / ((1 + a^2) fanIn)). */
export function kaimingUniformBound(fanIn: number, a: number = Math.sqrt(5)): number {
  return Math.sqrt(6 / ((1 + a * a) * fanIn));
}

/**
 * Fills a down matrix A of shape [rank, fanIn].
 * - "gaussian": A ~ N(0, 1/r) with 1/r read as the variance (PETALface's N(0, 1/r)), so the standard
 *   deviation is 1/sqrt(r). PEFT's own `init_lora_weights="gaussian"` uses a standard deviation of 1/r instead.
 * - "kaiming": uniform on [-bound, bound] with PEFT's default `kaiming_uniform_(a=sqrt(5))`, which gives
 *   bound = sqrt(1 / fanIn).
 */
export function initDown(init: LoraInit, rank: number, fanIn: number, rng: Rng): Float32Array {
  const a = new Float32Array(rank * fanIn);
  if (init === "gaussian") {
    const std = 1 / Math.sqrt(rank);
    for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
  } else {
    const bound = kaimingUniformBound(fanIn);
    for (let i = 0; i < a.length; i++) a[i] = (2 * rng.float() - 1) * bound;
  }
  return a;
}

/**
 * Initial weights for every placement: B = 0 and each A drawn from its own stream seeded by
 * `(seed, placement index, branch)`, so the result depends only on the seed and the placements.
 */
export function initAdapters(placements: readonly Placement[], seed: number): AdapterWeights[] {
  return placements.map((p, index) => {
    const count = p.gated ? 2 : 1;
    const branches: LoraBranch[] = [];
    for (let branch = 0; branch < count; branch++) {
      const rng = new Rng(seed, index, branch);
      branches.push({ a: initDown(p.init, p.rank, p.in, rng), b: new Float32Array(p.out * p.rank) });
    }
    return { path: p.path, branches };
  });
}

/** Folding LoRA into the base weight on the CPU, for export and for inference without adapter kernels. */

import type { AdapterWeights } from "./init.ts";
import type { Placement } from "./placement.ts";

/** A merge that is not defined (gated without a fixed gate) or inputs of the wrong shape. */
export class MergeError extends Error {
  override name = "MergeError";
}

/**
 * Returns W' ([out, in], row-major) with the adapter folded in; sums are taken in float64 and rounded once.
 * - plain LoRA: W' = W + s B A;
 * - gated pair: W' = W + s (g B1 A1 + (1 - g) B2 A2). The gate is per example during training, so the merge
 *   is exact only for inputs that share this fixed `gate`; it must be given for gated placements.
 */
export function mergeLora(
  weight: Float32Array,
  placement: Placement,
  weights: AdapterWeights,
  gate?: number,
): Float32Array {
  const { in: n, out: m, rank: r, path } = placement;
  if (weight.length !== m * n) {
    throw new MergeError(
      `"${path}": base weight has ${weight.length} values, expected [${m}, ${n}] = ${m * n}`,
    );
  }
  const count = placement.gated ? 2 : 1;
  if (weights.branches.length !== count) {
    throw new MergeError(`"${path}": expected ${count} LoRA branches, found ${weights.branches.length}`);
  }
  let factors: number[];
  if (placement.gated) {
    if (gate === undefined || !Number.isFinite(gate)) {
      throw new MergeError(
        `"${path}" is gated: merging needs a fixed gate g (W + s (g B1 A1 + (1 - g) B2 A2)), found ${gate}`,
      );
    }
    factors = [placement.scale * gate, placement.scale * (1 - gate)];
  } else {
    if (gate !== undefined) throw new MergeError(`"${path}" is plain LoRA: it takes no gate, found ${gate}`);
    factors = [placement.scale];
  }
  const delta = new Float64Array(m * n);
  weights.branches.forEach(({ a, b }, j) => {
    if (a.length !== r * n || b.length !== m * r) {
      throw new MergeError(
        `"${path}" branch ${j}: A has ${a.length} values (expected [${r}, ${n}]), ` +
          `B has ${b.length} (expected [${m}, ${r}])`,
      );
    }
    const f = factors[j];
    for (let o = 0; o < m; o++) {
      for (let k = 0; k < r; k++) {
        const bk = f * b[o * r + k];
        for (let i = 0; i < n; i++) delta[o * n + i] += bk * a[k * n + i];
      }
    }
  });
  const merged = new Float32Array(m * n);
  for (let i = 0; i < merged.length; i++) merged[i] = weight[i] + delta[i];
  return merged;
}

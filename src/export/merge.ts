/** Folding LoRA factors into a linear's weight, in float64. */

import type { HostTensor, LoraModule } from "./types.ts";

/** scale * B A as a row-major [out, in] float64 array, for A [r, in] and B [out, r]. */
export function loraDelta(a: HostTensor, b: HostTensor, scale: number): Float64Array {
  const [r, inDim] = a.shape;
  const out = b.shape[0];
  const delta = new Float64Array(out * inDim);
  for (let o = 0; o < out; o++) {
    for (let k = 0; k < r; k++) {
      const s = scale * b.data[o * r + k];
      for (let i = 0; i < inDim; i++) delta[o * inDim + i] += s * a.data[k * inDim + i];
    }
  }
  return delta;
}

/**
 * W' = W + s g B1 A1 + s (1 - g) B2 A2 ([out, in], float64); a plain module (no second branch) uses g = 1,
 * so W' = W + s B1 A1.
 */
export function mergeLora(w: HostTensor, lora: LoraModule | undefined, g = 1): Float64Array {
  const merged = Float64Array.from(w.data);
  if (lora === undefined) return merged;
  const gated = lora.A2 !== undefined && lora.B2 !== undefined;
  const d1 = loraDelta(lora.A1, lora.B1, lora.scale * (gated ? g : 1));
  for (let i = 0; i < merged.length; i++) merged[i] += d1[i];
  if (gated) {
    const d2 = loraDelta(lora.A2!, lora.B2!, lora.scale * (1 - g));
    for (let i = 0; i < merged.length; i++) merged[i] += d2[i];
  }
  return merged;
}

/** Row-major [rows, cols] -> [cols, rows]. */
export function transpose(values: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = values[r * cols + c];
  return t;
}

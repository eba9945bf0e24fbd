/** Moving weights between K single-variant layouts and a packed graph's stacked, rank-padded layout. */
import type { ModelGraph } from "../models/graph.ts";

/**
 * The packed graph's starting values from each variant's own weights (named as in its own graph): stacked
 * tensors take variant k's tensor at [k], zero-padded to the largest rank; shared (frozen) tensors must be
 * the same in every variant.
 */
export function packWeights(
  model: ModelGraph,
  variants: readonly ReadonlyMap<string, Float32Array>[],
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const p of model.params.values()) {
    const own = variants.map((v, k) => {
      const x = v.get(p.name);
      if (!x) throw new Error(`packing: variant ${k} has no value for ${p.name}`);
      return x;
    });
    if (!p.trainable) {
      const k = own.findIndex((x) => !sameValues(x, own[0]));
      if (k >= 0) throw new Error(`packing: variant ${k} has another frozen ${p.name} than variant 0`);
      out.set(p.name, own[0]);
      continue;
    }
    const [, rows, cols] = p.shape;
    const stacked = new Float32Array(p.size);
    own.forEach((x, k) => {
      // LoRA B [out, r] is padded in its columns; A [r, in] (and anything else) in its rows.
      const width = p.name.includes(".lora_B") ? x.length / rows : cols;
      const r = x.length / width;
      if (r > rows || width > cols || r * width !== x.length) {
        throw new Error(
          `packing: ${p.name} of variant ${k} (${x.length} values) does not fit [${rows}, ${cols}]`,
        );
      }
      for (let i = 0; i < r; i++) {
        stacked.set(x.subarray(i * width, (i + 1) * width), (k * rows + i) * cols);
      }
    });
    out.set(p.name, stacked);
  }
  return out;
}

/** Variant k's weights from the packed values, cut to the shapes of its own graph (`shapes`, by name). */
export function unpackWeights(
  model: ModelGraph,
  values: ReadonlyMap<string, Float32Array>,
  k: number,
  shapes: ReadonlyMap<string, readonly number[]>,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of shapes) {
    const p = model.params.get(name);
    const x = values.get(name);
    if (!p || !x) throw new Error(`unpacking: the packed graph has no ${name}`);
    if (!p.trainable) {
      out.set(name, x.slice());
      continue;
    }
    const [, rows, cols] = p.shape;
    const [r, width] = shape;
    const own = new Float32Array(r * width);
    for (let i = 0; i < r; i++) {
      const from = (k * rows + i) * cols;
      own.set(x.subarray(from, from + width), i * width);
    }
    out.set(name, own);
  }
  return out;
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(a[i] !== a[i] && b[i] !== b[i])) return false;
  return true;
}

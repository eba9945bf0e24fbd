/** Turns sampler draws and validation slices into the model's input arrays. */
import type { Batch } from "../compile/train_step.ts";
import {
  type Domain,
  type Draw,
  imageBatch,
  type ImageDomain,
  textBatch,
  type TextDomain,
} from "../data/mod.ts";

/** Per-domain gate values of the training images (undefined when the stage has no gate). */
export type GateTable = Float32Array[] | undefined;

/** The training batch of a draw. */
export function trainBatch(domains: readonly Domain[], draw: Draw, context: number, gates: GateTable): Batch {
  const B = draw.domain.length;
  const D = domains.length;
  const onehot = new Float32Array(B * D);
  for (let b = 0; b < B; b++) onehot[b * D + draw.domain[b]] = 1;
  let gate: Float32Array | undefined;
  if (gates) {
    gate = new Float32Array(B);
    for (let b = 0; b < B; b++) gate[b] = gates[draw.domain[b]][draw.index[b]];
  }
  if (domains[0].kind === "text") {
    const t = textBatch(domains as TextDomain[], draw, context);
    const out: Batch = { x: t.tokens, labels: t.targets, weights: t.weight, domains: onehot, gate };
    if (t.positions) out.positions = t.positions;
    return out;
  }
  const i = imageBatch(domains as ImageDomain[], draw);
  return { x: i.images, labels: i.labels, weights: i.weight, domains: onehot, gate };
}

/** Copies `rows` rows of `width` floats into an array of `batch` rows (the rest zero). */
export function padRows(data: Float32Array, rows: number, width: number, batch: number): Float32Array {
  if (rows === batch && data.length === batch * width) return data;
  const out = new Float32Array(batch * width);
  out.set(data.subarray(0, rows * width));
  return out;
}

/** Validation loss per domain and embeddings, through a forward program that reads the live weights. */
import type { Forward } from "../compile/forward.ts";
import { type Domain, textValidationBatches } from "../data/mod.ts";
import { IGNORE_LABEL } from "../data/batch.ts";
import { padRows } from "./batches.ts";

/**
 * Mean loss over a domain's validation split (at most `maxBatches` batches for text). Text: the mean over the
 * tokens with a target (each window's mean weighted by its count of targets that are not IGNORE_LABEL), so a
 * domain of supervised examples is scored on its response tokens alone; images: the mean per example.
 */
export async function validationLoss(
  forward: Forward,
  domain: Domain,
  batch: number,
  context: number,
  maxBatches: number,
  gate?: Float32Array,
): Promise<number> {
  const out = forward.model.perExample;
  let sum = 0;
  let count = 0;
  if (domain.kind === "text") {
    let k = 0;
    const windows = textValidationBatches(
      domain.validation,
      context,
      batch,
      domain.validationMask,
      domain.validationStarts,
    );
    for (const v of windows) {
      if (k++ >= maxBatches) break;
      forward.feed({
        x: padRows(v.tokens, v.rows, context, batch),
        labels: padRows(v.targets, v.rows, context, batch),
        // padding rows at position 0 throughout: each token alone, never a NaN
        ...(v.positions ? { positions: padRows(v.positions, v.rows, context, batch) } : {}),
      });
      const [loss] = await forward.run([out]);
      for (let r = 0; r < v.rows; r++) {
        let counted = 0;
        for (let t = r * context; t < (r + 1) * context; t++) if (v.targets[t] !== IGNORE_LABEL) counted++;
        sum += loss[r] * counted;
        count += counted;
      }
    }
  } else {
    const { images, labels } = domain.validation;
    const pixels = domain.side * domain.side;
    for (let first = 0; first < labels.length; first += batch) {
      const rows = Math.min(batch, labels.length - first);
      forward.feed({
        x: padRows(images.subarray(first * pixels, (first + rows) * pixels), rows, pixels, batch),
        labels: padRows(Float32Array.from(labels.subarray(first, first + rows)), rows, 1, batch),
        gate: gate ? padRows(gate.subarray(first, first + rows), rows, 1, batch) : undefined,
      });
      const [loss] = await forward.run([out]);
      for (let r = 0; r < rows; r++) sum += loss[r];
      count += rows;
    }
  }
  if (count === 0) {
    throw new Error(`domain "${domain.name}" has no validation examples (or no token to score)`);
  }
  return sum / count;
}

/** Embeddings of a set of images, in chunks of the forward's batch. */
export async function embeddings(
  forward: Forward,
  images: Float32Array,
  side: number,
  batch: number,
  gate?: Float32Array,
): Promise<Float32Array> {
  const emb = forward.model.embedding;
  if (!emb) throw new Error("this model has no embedding output");
  const pixels = side * side;
  const n = images.length / pixels;
  const dim = emb.shape[1];
  const out = new Float32Array(n * dim);
  for (let first = 0; first < n; first += batch) {
    const rows = Math.min(batch, n - first);
    forward.feed({
      x: padRows(images.subarray(first * pixels, (first + rows) * pixels), rows, pixels, batch),
      gate: gate ? padRows(gate.subarray(first, first + rows), rows, 1, batch) : undefined,
    });
    const [e] = await forward.run([emb]);
    out.set(e.subarray(0, rows * dim), first * dim);
  }
  return out;
}

/** Classification accuracy from logits. */

import { EvalError } from "./recognition.ts";

/** Fraction of rows of `logits` ([n, classes], row-major) whose arg-max (the first on ties) equals the label. */
export function accuracy(logits: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  if (n === 0) throw new EvalError("accuracy needs at least one example");
  if (logits.length % n !== 0) {
    throw new EvalError(`${logits.length} logits do not split into ${n} rows (one per label)`);
  }
  const classes = logits.length / n;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    if (best === labels[i]) correct++;
  }
  return correct / n;
}

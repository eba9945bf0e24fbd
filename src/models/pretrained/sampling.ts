/** Picking the next token from logits: greedy, or temperature with nucleus (top-p) filtering. */
import type { Rng } from "../../random.ts";

/** How the next token is chosen. */
export type Sampling = { kind: "greedy" } | { kind: "sample"; temperature: number; topP: number };

/** The chosen token id among `logits` (one row). Ties go to the lowest id. */
export function pickToken(logits: ArrayLike<number>, sampling: Sampling, rng: Rng): number {
  const n = logits.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(logits[i])) {
      throw new RangeError(`logit ${i} is ${logits[i]}: the model produced no distribution`);
    }
  }
  if (sampling.kind === "greedy") {
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }
  const { temperature, topP } = sampling;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  const p = Float64Array.from({ length: n }, (_, i) => Math.exp((logits[i] - max) / temperature));
  const z = p.reduce((a, b) => a + b, 0);
  // the smallest set of most likely tokens whose probability reaches topP (ties by id)
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  const kept: number[] = [];
  let mass = 0;
  for (const i of order) {
    kept.push(i);
    mass += p[i] / z;
    if (mass >= topP) break;
  }
  const total = kept.reduce((a, i) => a + p[i], 0);
  let u = rng.float() * total;
  for (const i of kept) {
    u -= p[i];
    if (u < 0) return i;
  }
  return kept[kept.length - 1];
}

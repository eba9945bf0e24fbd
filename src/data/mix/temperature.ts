/** Temperature sampling and scalarization (upweighting) over domains of very different sizes. */

import { MixError } from "../errors.ts";

/** Throws unless every size is a positive integer (examples in the domain). */
export function checkSizes(sizes: readonly number[]): void {
  if (sizes.length === 0) throw new MixError("sizes must list at least one domain, found none");
  sizes.forEach((n, i) => {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new MixError(`sizes must be positive integers (examples per domain), found ${n} at index ${i}`);
    }
  });
}

/** Throws unless `temperature` is a positive finite number. */
export function checkTemperature(temperature: number, where = "temperature"): void {
  if (typeof temperature !== "number" || !Number.isFinite(temperature) || temperature <= 0) {
    throw new MixError(`${where} must be a positive finite number, found ${temperature}`);
  }
}

/**
 * p(i; T) = n_i^(1/T) / sum_j n_j^(1/T), computed as a softmax of log(n_i) / T so huge sizes and
 * temperatures neither overflow nor lose the small domains.
 *
 * @example
 * ```ts
 * temperatureProbabilities([900, 100], 1); // [0.9, 0.1]
 * temperatureProbabilities([900, 100], 2); // [0.75, 0.25]  (30 : 10)
 * ```
 */
export function temperatureProbabilities(sizes: readonly number[], temperature: number): number[] {
  checkSizes(sizes);
  checkTemperature(temperature);
  const logits = sizes.map((n) => Math.log(n) / temperature);
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / total);
}

/** Scalarization loss weights w_i = p(i; T) / p(i; 1): sample proportionally, weight each example's loss. */
export function scalarizationWeights(sizes: readonly number[], temperature: number): number[] {
  const target = temperatureProbabilities(sizes, temperature);
  const proportional = temperatureProbabilities(sizes, 1);
  return target.map((p, i) => p / proportional[i]);
}

/** Checks explicit domain weights and returns them as probabilities (normalised when `normalize`). */
export function weightProbabilities(
  sizes: readonly number[],
  weights: readonly number[],
  normalize = false,
): number[] {
  checkSizes(sizes);
  if (weights.length !== sizes.length) {
    throw new MixError(`weights has ${weights.length} entries but there are ${sizes.length} domains`);
  }
  weights.forEach((w, i) => {
    if (typeof w !== "number" || !Number.isFinite(w) || w < 0) {
      throw new MixError(`weights must be non-negative finite numbers, found ${w} at index ${i}`);
    }
  });
  const total = weights.reduce((a, b) => a + b, 0);
  if (normalize) {
    if (total <= 0) throw new MixError("weights must have a positive sum to be normalised, found 0");
    return weights.map((w) => w / total);
  }
  if (Math.abs(total - 1) > 1e-6) {
    throw new MixError(
      `weights must sum to 1 (within 1e-6), found ${total} for [${weights.join(", ")}]; ` +
        "pass normalize: true to use them as relative weights",
    );
  }
  return weights.map((w) => w / total);
}

/** UniMax (Chung et al. 2023): a uniform budget over domains, each capped at N epochs of its data. */

import { MixError } from "../errors.ts";
import { checkSizes } from "./temperature.ts";

/**
 * Examples allotted to each domain (in the input order) from a total `budget` with an `epochs` cap.
 * Domains are processed smallest first (ties by index); each takes
 * min(remaining / domains left, epochs * n_i), so what the small domains cannot use goes to the larger ones.
 * Allocations are real numbers; they sum to `budget`.
 */
export function unimaxAllocation(sizes: readonly number[], budget: number, epochs: number): number[] {
  checkSizes(sizes);
  if (!Number.isFinite(budget) || budget <= 0) {
    throw new MixError(`unimax budget must be a positive number of examples, found ${budget}`);
  }
  if (!Number.isFinite(epochs) || epochs <= 0) {
    throw new MixError(`unimax epochs must be a positive number, found ${epochs}`);
  }
  const capacity = sizes.reduce((a, n) => a + epochs * n, 0);
  if (capacity < budget * (1 - 1e-12)) {
    throw new MixError(
      `unimax budget ${budget} examples exceeds what ${epochs} epochs of every domain hold (${capacity}); ` +
        "raise epochs or lower the budget",
    );
  }
  const order = sizes.map((_, i) => i).sort((a, b) => sizes[a] - sizes[b] || a - b);
  const allocation = new Array<number>(sizes.length).fill(0);
  let remaining = budget;
  order.forEach((i, k) => {
    const share = Math.min(remaining / (order.length - k), epochs * sizes[i]);
    allocation[i] = share;
    remaining -= share;
  });
  return allocation;
}

/** UniMax sampling probabilities: allocation / budget. */
export function unimaxProbabilities(sizes: readonly number[], budget: number, epochs: number): number[] {
  return unimaxAllocation(sizes, budget, epochs).map((a) => a / budget);
}

/** Mean and spread over seeds. */

/** Summary statistics of a sample; `std` is the sample standard deviation (n - 1), undefined below two values. */
export interface Stats {
  n: number;
  mean: number;
  std: number | undefined;
  min: number;
  max: number;
}

/** Statistics of a non-empty list of numbers. */
export function stats(values: number[]): Stats {
  const n = values.length;
  if (n === 0) throw new RangeError("stats() needs at least one value, found none");
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? undefined : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { n, mean, std, min: Math.min(...values), max: Math.max(...values) };
}

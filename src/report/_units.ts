/** One unit per metric across the report's tables: rank-1 and TAR are fractions in summary.json, shown in %. */

/** Metric names that evaluate stages write as fractions and tables show in percent. */
const PERCENT = /^(rank1|tar@1e-\d+)\//;

/** Whether `metric` is shown in percent. */
export function isPercent(metric: string): boolean {
  return PERCENT.test(metric);
}

/** The label and value a table shows for a metric: `rank1/x %` and 82.5 for `rank1/x` = 0.825. */
export function shownMetric(metric: string, value: number): [string, number] {
  if (!isPercent(metric) || typeof value !== "number") return [metric, value];
  return [`${metric} %`, Math.round(value * 1e6) / 1e4];
}

/**
 * Run reports: `report.html` for one run folder (stage graph, per-stage charts as inline SVG, summary
 * tables, the plan) and a comparison page over seeds (per-metric mean and std).
 *
 * @example
 * ```ts ignore
 * import { writeComparison, writeReport } from "./mod.ts";
 * await writeReport("runs/multilingual");
 * await writeComparison(["runs/mt-seed0", "runs/mt-seed1", "runs/mt-seed2"]);
 * ```
 *
 * @module
 */
export { ReportInputError } from "./errors.ts";
export { loadRun } from "./load_run.ts";
export { renderReport } from "./render_report.ts";
export { writeReport } from "./write_report.ts";
export {
  buildComparison,
  compareRuns,
  type Comparison,
  type ComparisonGroup,
  type ComparisonRun,
  type CurvePoint,
  type MetricStats,
  type StageCurves,
  type TableCell,
  type TableStats,
} from "./comparison.ts";
export { formatStats, renderComparison, writeComparison } from "./render_comparison.ts";
export { renderVegaLite } from "./vega_svg.ts";
export type { Stats } from "./_stats.ts";
export type * from "./types.ts";

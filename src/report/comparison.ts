/** Groups runs of the same pipeline (different seeds) and computes per-metric mean and spread. */
import { basename } from "node:path";
import { type Stats, stats } from "./_stats.ts";
import { ReportInputError } from "./errors.ts";
import { loadRun } from "./load_run.ts";
import type { RunData } from "./types.ts";

/** A run in a comparison group, with the label its columns and chart lines use. */
export interface ComparisonRun {
  dir: string;
  hash: string;
  seed?: number | string;
  /** `seed N` when every run of the group has a distinct seed, else the folder name. */
  label: string;
}

/** One summary metric of one stage over the group's runs. */
export interface MetricStats extends Stats {
  stage: string;
  metric: string;
  /** Value per run label; runs whose summary lacks the metric are absent. */
  values: Record<string, number>;
}

/** A summary table cell over runs: numbers become statistics, equal text stays text. */
export type TableCell = string | number | null | Stats;

/** A summary table aggregated cell by cell, rows matched by their first cell. */
export interface TableStats {
  stage: string;
  title: string;
  columns: string[];
  rows: TableCell[][];
}

/** One value of a per-step series from one run, for the mean ± std band charts. */
export interface CurvePoint {
  run: string;
  step: number;
  series: string;
  value: number;
}

/** Per-step series of one stage over the group's runs. */
export interface StageCurves {
  stage: string;
  /** Total training loss, series "loss". */
  train: CurvePoint[];
  /** Validation loss, one series per domain. */
  validation: CurvePoint[];
}

/** Runs of one pipeline with their aggregated metrics, tables and curves. */
export interface ComparisonGroup {
  pipeline: string;
  runs: ComparisonRun[];
  metrics: MetricStats[];
  tables: TableStats[];
  curves: StageCurves[];
}

/** The comparison of several runs, one group per pipeline name in order of first appearance. */
export interface Comparison {
  groups: ComparisonGroup[];
}

function labels(runs: RunData[]): string[] {
  const seeds = runs.map((r) => r.seed);
  const distinct = seeds.every((s) => s !== undefined) && new Set(seeds.map(String)).size === seeds.length;
  return runs.map((r) => distinct ? `seed ${r.seed}` : basename(r.dir));
}

function stageNames(runs: RunData[]): string[] {
  return [...new Set(runs.flatMap((r) => r.stages.map((s) => s.ref.name)))];
}

function metricStats(runs: RunData[], names: string[]): MetricStats[] {
  const out: MetricStats[] = [];
  for (const stage of stageNames(runs)) {
    const keys = [
      ...new Set(
        runs.flatMap((r) => Object.keys(r.stages.find((s) => s.ref.name === stage)?.summary?.metrics ?? {})),
      ),
    ];
    for (const metric of keys) {
      const values: Record<string, number> = {};
      runs.forEach((r, i) => {
        const v = r.stages.find((s) => s.ref.name === stage)?.summary?.metrics[metric];
        if (v !== undefined) values[names[i]] = v;
      });
      out.push({ stage, metric, values, ...stats(Object.values(values)) });
    }
  }
  return out;
}

function mergeCells(cells: (string | number | null)[]): TableCell {
  if (cells.every((c) => typeof c === "number")) return stats(cells as number[]);
  const distinct = [...new Set(cells.map((c) => c === null ? "—" : String(c)))];
  return distinct.length === 1 && cells.every((c) => c === cells[0]) ? cells[0] : distinct.join(" / ");
}

function tableStats(runs: RunData[]): TableStats[] {
  const out: TableStats[] = [];
  for (const stage of stageNames(runs)) {
    const tables = runs.flatMap((r) =>
      (r.stages.find((s) => s.ref.name === stage)?.summary?.tables ?? []).map((t) => ({ run: r.dir, t }))
    );
    for (const title of [...new Set(tables.map((x) => x.t.title))]) {
      const same = tables.filter((x) => x.t.title === title);
      const columns = same[0].t.columns;
      for (const x of same) {
        if (x.t.columns.join("\u0000") !== columns.join("\u0000")) {
          throw new ReportInputError(
            `${x.run}: stage "${stage}" table "${title}": expected columns [${columns.join(", ")}] as in ${
              same[0].run
            }, found [${x.t.columns.join(", ")}]`,
          );
        }
      }
      const keys = [...new Set(same.flatMap((x) => x.t.rows.map((row) => String(row[0]))))];
      const rows = keys.map((key) => {
        const matching = same.flatMap((x) => x.t.rows.filter((row) => String(row[0]) === key));
        return columns.map((_, j) => j === 0 ? matching[0][0] : mergeCells(matching.map((row) => row[j])));
      });
      out.push({ stage, title, columns, rows });
    }
  }
  return out;
}

function curves(runs: RunData[], names: string[]): StageCurves[] {
  return stageNames(runs).map((stage) => {
    const train: CurvePoint[] = [];
    const validation: CurvePoint[] = [];
    runs.forEach((r, i) => {
      const m = r.stages.find((s) => s.ref.name === stage)?.metrics;
      for (const t of m?.train ?? []) {
        if (t.loss !== undefined) train.push({ run: names[i], step: t.step, series: "loss", value: t.loss });
      }
      for (const e of m?.evals ?? []) {
        for (const [series, value] of Object.entries(e.validationLoss)) {
          validation.push({ run: names[i], step: e.step, series, value });
        }
      }
    });
    return { stage, train, validation };
  }).filter((c) => c.train.length > 0 || c.validation.length > 0);
}

/** Builds the comparison of already-loaded runs, grouped by pipeline name. */
export function compareRuns(runs: RunData[]): Comparison {
  if (runs.length === 0) {
    throw new ReportInputError("comparison: expected at least one run folder, found none");
  }
  const pipelines = [...new Set(runs.map((r) => r.name))];
  return {
    groups: pipelines.map((pipeline) => {
      const group = runs.filter((r) => r.name === pipeline);
      const names = labels(group);
      return {
        pipeline,
        runs: group.map((r, i) => ({ dir: r.dir, hash: r.hash, seed: r.seed, label: names[i] })),
        metrics: metricStats(group, names),
        tables: tableStats(group),
        curves: curves(group, names),
      };
    }),
  };
}

/**
 * Loads each run folder and groups runs of the same pipeline, giving per-metric mean and sample std over
 * seeds (the numbers of a reproduction table).
 *
 * @example
 * ```ts ignore
 * const c = await buildComparison(["runs/mt-seed0", "runs/mt-seed1", "runs/mt-seed2"]);
 * for (const m of c.groups[0].metrics) console.log(m.stage, m.metric, m.mean, m.std);
 * ```
 */
export async function buildComparison(runDirs: string[]): Promise<Comparison> {
  const runs: RunData[] = [];
  for (const dir of runDirs) runs.push(await loadRun(dir));
  return compareRuns(runs);
}

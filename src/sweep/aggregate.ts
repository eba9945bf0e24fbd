/**
 * A sweep's results: per metric of every stage, a table whose rows are the variants grouped over seeds
 * (mean, sample std, n, 95% interval), and per train stage the validation curves of each group (mean and
 * std at each step). Read from the stage folders the sweep wrote; nothing is computed that was not run.
 * Besides a train stage's final metrics, each run's lowest validation loss per domain and the step of it
 * (`best_validation_loss/<domain>`, `best_validation_step/<domain>`) show where a curve turned upward.
 */
import { join } from "node:path";
import { parseMetrics } from "../report/_parse_metrics.ts";
import { stats } from "../report/_stats.ts";
import type { SweepFolders } from "./folders.ts";
import type { SweepPlan } from "./plan.ts";

/** One row of a metric table: a group of variants that differ only in seed. */
export interface GroupRow {
  group: string;
  n: number;
  mean: number;
  std: number | null;
  /** 95% interval of the mean over seeds (Student t); null below two seeds. */
  ci95: [number, number] | null;
  /** Seed variant name to its value. */
  values: Record<string, number>;
  best: boolean;
}

/** The table of one metric of one stage. */
export interface MetricTable {
  stage: string;
  metric: string;
  /** Lower is better for losses, higher for other scores; "none" for a step, which no row wins. */
  better: "lower" | "higher" | "none";
  rows: GroupRow[];
}

/** Mean and std over seeds of one validation curve. */
export interface GroupCurve {
  stage: string;
  domain: string;
  group: string;
  steps: number[];
  mean: number[];
  std: (number | null)[];
  n: number;
}

/** What sweep.json holds besides the plan. */
export interface SweepResults {
  tables: MetricTable[];
  curves: GroupCurve[];
  /** Variants whose stages are not all done, left out of the tables. */
  incomplete: string[];
}

// two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom
const T975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/** Reads every complete variant's stage folders and tabulates them. */
export async function aggregateSweep(plan: SweepPlan, f: SweepFolders): Promise<SweepResults> {
  const tables = new Map<string, MetricTable>();
  const curves = new Map<string, { c: GroupCurve; byStep: Map<number, number[]> }>();
  const incomplete: string[] = [];
  for (const v of plan.variants) {
    const summaries: { stage: string; id: string; summary: { metrics?: Record<string, unknown> } }[] = [];
    try {
      for (const id of v.stages) {
        const stage = plan.stageRuns.find((r) => r.id === id)!.stage;
        summaries.push({
          stage,
          id,
          summary: JSON.parse(await Deno.readTextFile(join(f.stageRun(id), "summary.json"))),
        });
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      incomplete.push(v.name);
      continue;
    }
    const add = (stage: string, metric: string, value: number): void => {
      const key = `${stage}\0${metric}`;
      const better = /_step\//.test(metric) ? "none" : /loss/i.test(metric) ? "lower" : "higher";
      const t = tables.get(key) ?? { stage, metric, better, rows: [] } as MetricTable;
      tables.set(key, t);
      let row = t.rows.find((r) => r.group === v.group);
      if (!row) {
        t.rows.push(row = { group: v.group, n: 0, mean: 0, std: null, ci95: null, values: {}, best: false });
      }
      row.values[v.name] = value;
    };
    for (const { stage, id, summary } of summaries) {
      for (const [metric, value] of Object.entries(summary.metrics ?? {})) {
        if (typeof value === "number") add(stage, metric, value);
      }
      const metricsPath = join(f.stageRun(id), "metrics.jsonl");
      let text: string;
      try {
        text = await Deno.readTextFile(metricsPath);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) continue;
        throw e;
      }
      const lowest = new Map<string, { loss: number; step: number }>();
      for (const e of parseMetrics(text, metricsPath).evals) {
        for (const [domain, loss] of Object.entries(e.validationLoss)) {
          // the first step of the minimum; a NaN is never the lowest
          const low = lowest.get(domain);
          if (!Number.isNaN(loss) && (!low || loss < low.loss)) lowest.set(domain, { loss, step: e.step });
          const key = `${stage}\0${domain}\0${v.group}`;
          const entry = curves.get(key) ?? {
            c: { stage, domain, group: v.group, steps: [], mean: [], std: [], n: 0 },
            byStep: new Map<number, number[]>(),
          };
          curves.set(key, entry);
          entry.byStep.set(e.step, [...(entry.byStep.get(e.step) ?? []), loss]);
        }
      }
      for (const [domain, low] of lowest) {
        add(stage, `best_validation_loss/${domain}`, low.loss);
        add(stage, `best_validation_step/${domain}`, low.step);
      }
    }
  }
  for (const t of tables.values()) {
    for (const row of t.rows) {
      const s = stats(Object.values(row.values));
      const half = s.std === undefined ? undefined : T975[Math.min(s.n - 2, 29)] * s.std / Math.sqrt(s.n);
      Object.assign(row, {
        n: s.n,
        mean: s.mean,
        std: s.std ?? null,
        ci95: half === undefined ? null : [s.mean - half, s.mean + half],
      });
    }
    if (t.better === "none") continue;
    const pick = t.better === "lower" ? Math.min : Math.max;
    const best = pick(...t.rows.map((r) => r.mean));
    // a best only where the rows differ (a stage shared by every group is one value, not a winner)
    const differ = t.rows.some((r) => r.mean !== best);
    for (const row of t.rows) row.best = differ && row.mean === best;
  }
  const out: GroupCurve[] = [];
  for (const { c, byStep } of curves.values()) {
    for (const step of [...byStep.keys()].sort((a, b) => a - b)) {
      const s = stats(byStep.get(step)!);
      c.steps.push(step);
      c.mean.push(s.mean);
      c.std.push(s.std ?? null);
      c.n = Math.max(c.n, s.n);
    }
    out.push(c);
  }
  return { tables: [...tables.values()], curves: out, incomplete };
}

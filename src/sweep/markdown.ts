/**
 * A sweep's results as Markdown tables: one row per stage (and variant group), one column per metric,
 * cells `mean ± std` over seeds with the best of each column in bold, and validation curves at chosen steps.
 * Everything is read from sweep.json's tables and curves; an average column is averaged per seed first.
 */
import { stats } from "../report/_stats.ts";
import type { GroupRow, MetricTable, SweepResults } from "./aggregate.ts";

/** A column: one metric, or the per-seed mean of several (`of`). */
export interface Column {
  title: string;
  metric?: string;
  of?: string[];
  /** Each seed's value, in the sweep's variant order, instead of mean ± std (e.g. the step of a best loss). */
  perSeed?: boolean;
}

/** What a pivot table shows. */
export interface PivotOptions {
  columns: Column[];
  /** Stages as rows, in this order, each with its row title; default: every stage that has a column's metric. */
  stages?: { stage: string; title?: string }[];
  /** Values are multiplied by this before printing (100 for percentages). */
  scale?: number;
  /** Decimals printed (default 3). */
  digits?: number;
  /** Heading of the row titles' column (default empty). */
  rowTitle?: string;
}

interface Cell {
  mean: number;
  std: number | null;
  values: number[];
}

/** Rows = stages x variant groups, columns = metrics; "-" where a stage lacks a metric. */
export function pivotTable(results: SweepResults, opts: PivotOptions): string {
  const byKey = new Map(results.tables.map((t) => [`${t.stage}\0${t.metric}`, t]));
  const metricsOf = (c: Column): string[] => c.of ?? [c.metric!];
  const stages: { stage: string; title?: string }[] = opts.stages ??
    [...new Set(results.tables.map((t) => t.stage))]
      .filter((s) => opts.columns.some((c) => metricsOf(c).every((m) => byKey.has(`${s}\0${m}`))))
      .map((stage) => ({ stage }));
  const groups = [...new Set(results.tables.flatMap((t) => t.rows.map((r) => r.group)))];
  const rows: { title: string; cells: (Cell | undefined)[] }[] = [];
  for (const { stage, title } of stages) {
    for (const group of groups) {
      const cells = opts.columns.map((c) =>
        cellOf(metricsOf(c).map((m) => byKey.get(`${stage}\0${m}`)), group)
      );
      rows.push({ title: groups.length > 1 ? `${title ?? stage}, ${group}` : title ?? stage, cells });
    }
  }
  const scale = opts.scale ?? 1;
  const digits = opts.digits ?? 3;
  const better = opts.columns.map((c) => results.tables.find((t) => t.metric === metricsOf(c)[0])?.better);
  const best = opts.columns.map((_, i) => {
    const means = rows.map((r) => r.cells[i]?.mean).filter((m): m is number => m !== undefined);
    if (better[i] === "none" || better[i] === undefined || new Set(means).size < 2) return undefined;
    return better[i] === "lower" ? Math.min(...means) : Math.max(...means);
  });
  const text = (c: Cell | undefined, i: number): string => {
    if (!c) return "-";
    if (opts.columns[i].perSeed) return c.values.map((x) => (x * scale).toFixed(digits)).join(", ");
    const v = c.std === null
      ? (c.mean * scale).toFixed(digits)
      : `${(c.mean * scale).toFixed(digits)} ± ${(c.std * scale).toFixed(digits)}`;
    return c.mean === best[i] ? `**${v}**` : v;
  };
  return markdown(
    [opts.rowTitle ?? "", ...opts.columns.map((c) => c.title)],
    rows.map((r) => [r.title, ...r.cells.map(text)]),
  );
}

/** Mean over seeds of a group's values; for several metrics, the mean over seeds of each seed's mean. */
function cellOf(tables: (MetricTable | undefined)[], group: string): Cell | undefined {
  const rows = tables.map((t) => t?.rows.find((r) => r.group === group));
  if (rows.some((r) => r === undefined)) return undefined;
  if (rows.length === 1) {
    return { mean: rows[0]!.mean, std: rows[0]!.std, values: Object.values(rows[0]!.values) };
  }
  const seeds = Object.keys(rows[0]!.values).filter((s) => rows.every((r) => s in r!.values));
  if (seeds.length === 0) return undefined;
  const values = seeds.map((seed) => mean(rows.map((r) => (r as GroupRow).values[seed])));
  const s = stats(values);
  return { mean: s.mean, std: s.std ?? null, values };
}

/** Validation loss over training, mean over seeds: rows = steps, one column per (domain, stage). */
export function curveTable(
  results: SweepResults,
  /** Without a group, the first curve of the stage and domain: for sweeps over seeds only. */
  columns: { title: string; stage: string; domain: string; group?: string }[],
  steps: number[],
  digits = 3,
): string {
  const rows = steps.map((step) => [
    step.toLocaleString("en-US"),
    ...columns.map((c) => {
      const curve = results.curves.find((k) =>
        k.stage === c.stage && k.domain === c.domain && (c.group === undefined || k.group === c.group)
      );
      const i = curve?.steps.indexOf(step) ?? -1;
      return i < 0 ? "-" : curve!.mean[i].toFixed(digits);
    }),
  ]);
  return markdown(["step", ...columns.map((c) => c.title)], rows);
}

/**
 * The default tables of a sweep: one per metric family (the part before `/`), rows = the stages that have it,
 * columns = the rest of each name (a language, a test set).
 */
export function sweepMarkdown(results: SweepResults): string {
  const families = new Map<string, string[]>();
  for (const t of results.tables) {
    const family = t.metric.split("/")[0];
    const names = families.get(family) ?? [];
    if (!names.includes(t.metric)) names.push(t.metric);
    families.set(family, names);
  }
  const out: string[] = [];
  for (const [family, metrics] of families) {
    const title = `${family} (mean ± std over seeds)`;
    const columns = metrics.map((m) => ({
      title: m.includes("/") ? m.slice(family.length + 1) : m,
      metric: m,
    }));
    out.push(
      `### ${title}`,
      "",
      pivotTable(results, { columns, digits: family.endsWith("_step") ? 0 : 3 }),
      "",
    );
  }
  if (results.incomplete.length > 0) {
    out.push(`Incomplete variants (left out): ${results.incomplete.join(", ")}`, "");
  }
  return out.join("\n");
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** A Markdown table with padded columns; a `|` in a name (a domain may have one) is escaped. */
function markdown(head: string[], rows: string[][]): string {
  const cells = [head, ...rows].map((r) => r.map((v) => v.replaceAll("|", "\\|")));
  const widths = head.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)));
  const line = (r: string[]): string => `| ${r.map((v, i) => v.padEnd(widths[i])).join(" | ")} |`;
  return [line(cells[0]), line(widths.map((w) => "-".repeat(w))), ...cells.slice(1).map(line)].join("\n");
}

/** sweep.json's tables and curves; an error naming the file and the command that writes it when absent. */
export async function readSweepResults(path: string): Promise<SweepResults> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${path} not found: run \`deno task sweep PIPELINE\` first; it writes sweep.json`);
    }
    throw e;
  }
  const json = JSON.parse(text) as Partial<SweepResults>;
  if (!Array.isArray(json.tables) || !Array.isArray(json.curves)) {
    throw new Error(`${path}: not a sweep.json (no tables and curves)`);
  }
  return { tables: json.tables, curves: json.curves, incomplete: json.incomplete ?? [] };
}

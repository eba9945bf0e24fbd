/** Renders and writes the multi-run comparison page: mean ± std tables and band charts per pipeline. */
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { baseConfig, type ChartSpec, PALETTE, thin, TOTAL_COLOR } from "./_chart_kit.ts";
import { type Cell, escapeHtml, formatNumber, page, table } from "./_html.ts";
import type { Stats } from "./_stats.ts";
import {
  buildComparison,
  type Comparison,
  type ComparisonGroup,
  type CurvePoint,
  type MetricStats,
} from "./comparison.ts";
import { renderFigures } from "./render_report.ts";
import { isPercent } from "./_units.ts";
import { writeAtomic } from "../files.ts";

/** `mean ± std`, with the count when fewer runs than the group's have the value. */
export function formatStats(s: Stats, runs: number): string {
  const spread = s.std === undefined ? "" : ` ± ${formatNumber(s.std)}`;
  return `${formatNumber(s.mean)}${spread}${s.n < runs ? ` (n=${s.n})` : ""}`;
}

function isStats(value: unknown): value is Stats {
  return typeof value === "object" && value !== null && "mean" in value;
}

/** `m` scaled from a fraction to percent, its name marked `%`. */
function percentStats(m: MetricStats): MetricStats {
  const pct = (x: number) => Math.round(x * 1e6) / 1e4;
  return {
    ...m,
    metric: `${m.metric} %`,
    mean: pct(m.mean),
    std: m.std === undefined ? undefined : pct(m.std),
    min: pct(m.min),
    max: pct(m.max),
    values: Object.fromEntries(Object.entries(m.values).map(([k, v]) => [k, pct(v)])),
  };
}

/** Mean line with a ±1 std band per series, over steps present in the runs. */
function bandChart(all: CurvePoint[], yTitle: string, totals: boolean): TopLevelSpec {
  // Thin by step rather than by record so every run keeps the same steps and the band stays defined.
  const kept = new Set(thin([...new Set(all.map((p) => p.step))].sort((a, b) => a - b)).items);
  const points = all.filter((p) => kept.has(p.step));
  const series = [...new Set(points.map((p) => p.series))];
  const range = totals ? [TOTAL_COLOR] : series.map((_, i) => PALETTE[i % PALETTE.length]);
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: { domain: series, range },
    legend: series.length === 1 ? null : {},
  } as const;
  const x = { field: "step", type: "quantitative", title: "step" } as const;
  return {
    ...baseConfig(),
    width: 400,
    height: 190,
    data: { values: points },
    layer: [
      {
        mark: { type: "errorband", extent: "stdev", opacity: 0.25 },
        encoding: {
          x,
          y: { field: "value", type: "quantitative", title: yTitle, scale: { zero: false } },
          color,
        },
      },
      {
        mark: "line",
        encoding: { x, y: { aggregate: "mean", field: "value", type: "quantitative" }, color },
      },
    ],
  };
}

function groupCharts(group: ComparisonGroup): ChartSpec[] {
  const note = `mean over ${group.runs.length} runs, band ±1 std`;
  return group.curves.flatMap((c) => {
    const out: ChartSpec[] = [];
    if (c.train.length > 0) {
      out.push({ title: `${c.stage}: training loss`, note, spec: bandChart(c.train, "loss", true) });
    }
    if (c.validation.length > 0) {
      out.push({
        title: `${c.stage}: validation loss`,
        note,
        spec: bandChart(c.validation, "validation loss", false),
      });
    }
    return out;
  });
}

async function groupSection(group: ComparisonGroup): Promise<string> {
  const n = group.runs.length;
  const runs = table(
    ["run", "seed", "hash", "folder"],
    group.runs.map((r) => [r.label, r.seed === undefined ? undefined : String(r.seed), r.hash, r.dir]),
    "Runs",
  );
  const metricRows: Cell[][] = group.metrics.map((raw) => {
    // rank-1 and TAR in percent, as in the stages' own tables
    const m = isPercent(raw.metric) ? percentStats(raw) : raw;
    return [
      m.stage,
      m.metric,
      formatStats(m, n),
      m.mean,
      m.std,
      m.min,
      m.max,
      m.n,
      ...group.runs.map((r) => m.values[r.label]),
    ];
  });
  const metricColumns = [
    "stage",
    "metric",
    "mean ± std",
    "mean",
    "std",
    "min",
    "max",
    "n",
    ...group.runs.map((r) => r.label),
  ];
  const parts = [
    `<section class="group"><h2>Pipeline ${escapeHtml(group.pipeline)}</h2>`,
    `<p class="meta">${n} runs; std is the sample standard deviation (n − 1).</p>`,
    runs,
  ];
  if (group.metrics.length > 0) parts.push(table(metricColumns, metricRows, "Final metrics over runs"));
  for (const t of group.tables) {
    const rows: Cell[][] = t.rows.map((row) => row.map((c) => isStats(c) ? formatStats(c, n) : c));
    parts.push(table(t.columns, rows, `${t.stage}: ${t.title} (mean ± std)`));
  }
  const charts = groupCharts(group);
  if (charts.length > 0) parts.push(await renderFigures(charts));
  parts.push("</section>");
  return parts.join("\n");
}

/** Renders the comparison page (self-contained, like the run report). */
export async function renderComparison(comparison: Comparison): Promise<string> {
  const names = comparison.groups.map((g) => g.pipeline).join(", ");
  const body = [`<h1>mixtune comparison: ${escapeHtml(names)}</h1>`];
  for (const g of comparison.groups) body.push(await groupSection(g));
  return page(`mixtune comparison ${names}`, body.join("\n"));
}

/**
 * Compares the run folders and writes the page to `out`, by default `<first run folder>/comparison.html`;
 * returns the path written.
 *
 * @example
 * ```ts ignore
 * const path = await writeComparison(["runs/mt-seed0", "runs/mt-seed1"]);
 * ```
 */
export async function writeComparison(runDirs: string[], out?: string): Promise<string> {
  const html = await renderComparison(await buildComparison(runDirs));
  const path = out ?? join(runDirs[0], "comparison.html");
  await writeAtomic(path, html);
  return path;
}

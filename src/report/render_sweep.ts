/** sweep.html from a sweep's sweep.json: one table per metric (groups over seeds) and band charts. */
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import type { GroupCurve, MetricTable } from "../sweep/aggregate.ts";
import { baseConfig, type ChartSpec, PALETTE } from "./_chart_kit.ts";
import { type Cell, escapeHtml, formatNumber, page, table } from "./_html.ts";
import { ReportInputError } from "./errors.ts";
import { renderFigures } from "./render_report.ts";
import { writeAtomic } from "../files.ts";

interface SweepJson {
  name: string;
  mode: string;
  variants: { name: string; group: string }[];
  stageRuns: unknown[];
  naive: number;
  saved: number;
  tables: MetricTable[];
  curves: GroupCurve[];
  incomplete: string[];
}

function metricTable(t: MetricTable): string {
  const rows: Cell[][] = t.rows.map((r) => {
    const text = r.std === null ? formatNumber(r.mean) : `${formatNumber(r.mean)} ± ${formatNumber(r.std)}`;
    return [
      r.group,
      r.best ? { html: `<strong>${escapeHtml(text)}</strong>` } : text,
      r.ci95 ? `${formatNumber(r.ci95[0])} to ${formatNumber(r.ci95[1])}` : undefined,
      r.n,
      Object.entries(r.values).map(([v, x]) => `${v}: ${formatNumber(x)}`).join("; "),
    ];
  });
  return table(
    ["variant", "mean ± std", "95% interval of the mean", "seeds", "values"],
    rows,
    t.better === "none"
      ? `${t.stage}: ${t.metric}`
      : `${t.stage}: ${t.metric} (${t.better} is better; best in bold)`,
  );
}

/** Mean line and a ±1 std band per group, from the curves' precomputed statistics. */
function bandChart(curves: GroupCurve[]): TopLevelSpec {
  const points = curves.flatMap((c) =>
    c.steps.map((step, i) => ({
      step,
      series: c.group,
      mean: c.mean[i],
      lo: c.mean[i] - (c.std[i] ?? 0),
      hi: c.mean[i] + (c.std[i] ?? 0),
    }))
  );
  const series = curves.map((c) => c.group);
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    scale: { domain: series, range: series.map((_, i) => PALETTE[i % PALETTE.length]) },
  } as const;
  const x = { field: "step", type: "quantitative", title: "step" } as const;
  return {
    ...baseConfig(),
    width: 400,
    height: 190,
    data: { values: points },
    layer: [
      {
        mark: { type: "area", opacity: 0.2 },
        encoding: {
          x,
          y: { field: "lo", type: "quantitative", title: "validation loss", scale: { zero: false } },
          y2: { field: "hi" },
          color,
        },
      },
      { mark: "line", encoding: { x, y: { field: "mean", type: "quantitative" }, color } },
    ],
  };
}

/** The page of a sweep. */
export async function renderSweep(s: SweepJson): Promise<string> {
  const body = [
    `<h1>mixtune sweep: ${escapeHtml(s.name)}</h1>`,
    `<p class="meta">${s.variants.length} variants (${
      escapeHtml(s.mode)
    }), ${s.stageRuns.length} unique stage ` +
    `runs of ${s.naive} (sharing saved ${s.saved}); std is the sample standard deviation over seeds (n − 1), ` +
    `the interval is Student's t.</p>`,
  ];
  if (s.incomplete.length > 0) {
    body.push(`<p class="meta">Left out (not all stages done): ${escapeHtml(s.incomplete.join(", "))}</p>`);
  }
  body.push("<h2>Final metrics</h2>", ...s.tables.map(metricTable));
  const charts: ChartSpec[] = [];
  const keys = [...new Set(s.curves.map((c) => `${c.stage}\0${c.domain}`))];
  for (const key of keys) {
    const [stage, domain] = key.split("\0");
    const group = s.curves.filter((c) => c.stage === stage && c.domain === domain);
    charts.push({
      title: `${stage}: validation loss on ${domain}`,
      note: "mean over seeds, band ±1 std",
      spec: bandChart(group),
    });
  }
  if (charts.length > 0) body.push("<h2>Validation curves</h2>", await renderFigures(charts));
  return page(`mixtune sweep ${s.name}`, body.join("\n"));
}

/** Writes `<dir>/sweep.html` (or `out`) from `<dir>/sweep.json`; returns the path written. */
export async function writeSweepReport(dir: string, out?: string): Promise<string> {
  const path = join(dir, "sweep.json");
  let s: SweepJson;
  try {
    s = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    throw new ReportInputError(`${path}: expected a sweep's sweep.json, ${(e as Error).message}`);
  }
  if (!Array.isArray(s?.tables) || !Array.isArray(s?.curves) || !Array.isArray(s?.variants)) {
    throw new ReportInputError(
      `${path}: expected tables, curves and variants, found ${Object.keys(s ?? {}).join(", ")}`,
    );
  }
  const html = await renderSweep(s);
  const target = out ?? join(dir, "sweep.html");
  await writeAtomic(target, html);
  return target;
}

/** Renders a run's report.html: stage graph, per-stage charts and tables, and the plan. */
import type { ChartSpec } from "./_chart_kit.ts";
import { type Cell, escapeHtml, figure, page, table } from "./_html.ts";
import { INCOMPLETE } from "./_parse_metrics.ts";
import { planOverview, planStageDetails } from "./_plan_html.ts";
import { stageCharts } from "./stage_charts.ts";
import { stageGraphSpec } from "./stage_graph.ts";
import { shownMetric } from "./_units.ts";
import type { RunData, StageData } from "./types.ts";
import { renderVegaLite } from "./vega_svg.ts";

/** Renders each chart spec to a figure with an inline SVG. */
export async function renderFigures(charts: ChartSpec[]): Promise<string> {
  const figures: string[] = [];
  for (const c of charts) figures.push(figure(c.title, await renderVegaLite(c.spec), c.note));
  return `<div class="charts">\n${figures.join("\n")}\n</div>`;
}

function overview(run: RunData): string {
  const rows: Cell[][] = run.stages.map((s) => [
    s.ref.name,
    s.ref.kind,
    s.ref.cached ? "yes" : "no",
    s.summary?.steps,
    s.ref.dependsOn.join(", "),
    { html: `<code>${escapeHtml(s.ref.dir)}</code>` },
  ]);
  return table(["stage", "kind", "cached", "steps", "depends on", "folder"], rows);
}

async function stageSection(stage: StageData): Promise<string> {
  const { ref } = stage;
  const badges = `<span class="badge">${escapeHtml(ref.kind)}</span>` +
    (ref.cached ? `<span class="badge cached">cached</span>` : "");
  const parts = [
    `<section class="stage" id="stage-${escapeHtml(ref.name)}">`,
    `<h2>Stage ${escapeHtml(ref.name)}${badges}</h2>`,
  ];
  const charts = stageCharts(stage);
  if (charts.length > 0) parts.push(await renderFigures(charts));
  const ignored = Object.entries(stage.metrics?.ignored ?? {});
  if (ignored.length > 0) {
    const list = ignored.map(([type, n]) => type === INCOMPLETE ? type : `${n} of type "${type}"`).join(", ");
    parts.push(`<p class="note">metrics.jsonl records not shown: ${escapeHtml(list)}</p>`);
  }
  const summary = stage.summary;
  if (summary !== undefined) {
    const metrics = Object.entries(summary.metrics).map(([k, v]) => shownMetric(k, v));
    if (metrics.length > 0) parts.push(table(["metric", "value"], metrics, "Final metrics"));
    for (const t of summary.tables) parts.push(table(t.columns, t.rows, t.title));
  }
  if (stage.metrics === undefined && summary === undefined) {
    parts.push(`<p class="note">This stage wrote no metrics.jsonl and no summary.json.</p>`);
  }
  if (stage.plan !== undefined) {
    const details = planStageDetails(stage.plan);
    if (details !== "") parts.push(`<h3>Plan</h3>\n${details}`);
  }
  parts.push("</section>");
  return parts.join("\n");
}

/**
 * Renders the full report page for a loaded run. The page is self-contained: inline CSS and inline SVG
 * charts, no scripts, no external resources. Async because Vega renders asynchronously.
 *
 * @example
 * ```ts ignore
 * const html = await renderReport(await loadRun("runs/multilingual"));
 * ```
 */
export async function renderReport(run: RunData): Promise<string> {
  const where = `${run.dir}/run.json`;
  const seed = run.seed === undefined ? "" : ` · seed <code>${escapeHtml(String(run.seed))}</code>`;
  const body = [
    `<h1>mixtune run: ${escapeHtml(run.name)}</h1>`,
    `<p class="meta">hash <code>${escapeHtml(run.hash)}</code>${seed} · folder <code>${
      escapeHtml(run.dir)
    }</code></p>`,
    `<h2>Stage graph</h2>`,
    await renderFigures([{ title: "Stages", spec: stageGraphSpec(run.stages.map((s) => s.ref), where) }]),
    overview(run),
    run.plan === undefined ? "" : planOverview(run.plan),
  ];
  for (const stage of run.stages) body.push(await stageSection(stage));
  return page(`mixtune run ${run.name}`, body.join("\n"));
}

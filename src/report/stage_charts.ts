/** The charts of one stage: losses, validation, sampling, temperature, epochs, lr, throughput, gates. */
import type { TopLevelSpec } from "npm:vega-lite@6.5.0";
import {
  baseConfig,
  type ChartSpec,
  lineChart,
  PALETTE,
  type SeriesPoint,
  thin,
  thinNote,
} from "./_chart_kit.ts";
import type { EvalRecord, GateRecord, StageData, TrainRecord } from "./types.ts";

/** Domain names in a stable order: the plan's sampling order first, then first appearance in the metrics. */
export function stageDomains(stage: StageData): string[] {
  const seen = new Set<string>(stage.plan?.sampling?.domains.map((d) => d.name) ?? []);
  const add = (r: Record<string, number> | undefined) => Object.keys(r ?? {}).forEach((k) => seen.add(k));
  for (const t of stage.metrics?.train ?? []) {
    add(t.probabilities);
    add(t.domainLoss);
    add(t.epochs);
  }
  for (const e of stage.metrics?.evals ?? []) add(e.validationLoss);
  return [...seen];
}

function recordPoints(
  records: { step: number }[],
  pick: (r: never) => Record<string, number> | undefined,
): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (const r of records) {
    for (const [series, value] of Object.entries(pick(r as never) ?? {})) {
      out.push({ step: r.step, series, value });
    }
  }
  return out;
}

function scalarPoints(
  records: TrainRecord[],
  key: "loss" | "lr" | "temperature" | "samplesPerSec",
): SeriesPoint[] {
  return records.filter((r) => r[key] !== undefined).map((r) => ({
    step: r.step,
    series: key,
    value: r[key]!,
  }));
}

function only(series: string[], points: SeriesPoint[]): string[] {
  const present = new Set(points.map((p) => p.series));
  return series.filter((s) => present.has(s));
}

function trainCharts(train: TrainRecord[], domains: string[]): ChartSpec[] {
  const { items, stride } = thin(train);
  const note = thinNote(stride, train.length);
  const charts: ChartSpec[] = [];
  const loss = [
    ...scalarPoints(items, "loss").map((p) => ({ ...p, series: "total" })),
    ...recordPoints(items, (r: TrainRecord) => r.domainLoss),
  ];
  if (loss.length > 0) {
    const series = only(["total", ...domains], loss);
    charts.push({
      title: "Training loss",
      note,
      spec: lineChart({ points: loss, yTitle: "loss", series, totals: ["total"] }),
    });
  }
  const probs = recordPoints(items, (r: TrainRecord) => r.probabilities);
  if (probs.length > 0) {
    const spec = lineChart({ points: probs, yTitle: "probability", series: only(domains, probs) });
    charts.push({ title: "Sampling probabilities", note, spec });
  }
  const scalars = [
    ["temperature", "Sampling temperature", "temperature"],
    ["lr", "Learning rate", "learning rate"],
    ["samplesPerSec", "Throughput", "samples / s"],
  ] as const;
  for (const [key, title, yTitle] of scalars) {
    const points = scalarPoints(items, key);
    if (points.length > 0) {
      charts.push({ title, note, spec: lineChart({ points, yTitle, series: [key], totals: [key] }) });
    }
  }
  const epochs = recordPoints(items, (r: TrainRecord) => r.epochs);
  if (epochs.length > 0) {
    const spec = lineChart({ points: epochs, yTitle: "epochs seen", series: only(domains, epochs) });
    charts.push({ title: "Epochs per domain", note, spec });
  }
  return charts;
}

/** Bars of one gate record's histograms, one panel per domain. */
function gateHistogramSpec(gate: GateRecord): TopLevelSpec {
  const values = Object.entries(gate.histogram).flatMap(([domain, h]) =>
    h.counts.map((count, i) => ({ domain, lo: h.edges[i], hi: h.edges[i + 1], count }))
  );
  const domains = Object.keys(gate.histogram);
  return {
    ...baseConfig(),
    data: { values },
    facet: { column: { field: "domain", type: "nominal", title: null, sort: domains } },
    spec: {
      width: 200,
      height: 150,
      mark: { type: "rect", stroke: "white", strokeWidth: 0.5 },
      encoding: {
        x: { field: "lo", type: "quantitative", title: "gate weight" },
        x2: { field: "hi" },
        y: { field: "count", type: "quantitative", title: "examples" },
        color: {
          field: "domain",
          type: "nominal",
          legend: null,
          scale: { domain: domains, range: PALETTE.slice(0, domains.length) },
        },
      },
    },
  };
}

/** Mean gate weight per domain and step, from the histogram bin centres. */
function gateMeans(gates: GateRecord[]): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (const g of gates) {
    for (const [series, h] of Object.entries(g.histogram)) {
      const n = h.counts.reduce((a, b) => a + b, 0);
      if (n === 0) continue;
      const sum = h.counts.reduce((a, c, i) => a + c * (h.edges[i] + h.edges[i + 1]) / 2, 0);
      out.push({ step: g.step, series, value: sum / n });
    }
  }
  return out;
}

function gateCharts(gates: GateRecord[]): ChartSpec[] {
  if (gates.length === 0) return [];
  const last = gates[gates.length - 1];
  const charts: ChartSpec[] = [{
    title: `Gate-weight distribution at step ${last.step}`,
    spec: gateHistogramSpec(last),
  }];
  if (gates.length > 1) {
    const points = gateMeans(gates);
    const series = [...new Set(points.map((p) => p.series))];
    charts.push({
      title: "Mean gate weight",
      note: "from histogram bin centres",
      spec: lineChart({ points, yTitle: "mean gate weight", series, dots: true }),
    });
  }
  return charts;
}

/**
 * The chart specs for one stage, in reading order; a stage without metrics gets only what its plan shows
 * (the planned sampling schedule).
 */
export function stageCharts(stage: StageData): ChartSpec[] {
  const domains = stageDomains(stage);
  const m = stage.metrics;
  const charts = m === undefined ? [] : trainCharts(m.train, domains);
  // Evaluations are drawn with a dot each, so fewer of them fit before the chart turns to noise.
  const thinnedEvals = thin(m?.evals ?? [], 200);
  const evals = recordPoints(thinnedEvals.items, (r: EvalRecord) => r.validationLoss);
  if (evals.length > 0) {
    const spec = lineChart({
      points: evals,
      yTitle: "validation loss",
      series: only(domains, evals),
      dots: true,
    });
    const note = thinNote(thinnedEvals.stride, m?.evals.length ?? 0);
    charts.splice(Math.min(1, charts.length), 0, { title: "Validation loss", note, spec });
  }
  const hasMeasured = (m?.train ?? []).some((t) => t.probabilities !== undefined);
  const schedule = stage.plan?.sampling?.schedule ?? [];
  if (!hasMeasured && schedule.length > 0) {
    const points = recordPoints(schedule, (s: { probabilities: Record<string, number> }) => s.probabilities);
    // Hold the last planned probabilities to the stage's last step, so the steps read as a schedule.
    const end = (m?.train ?? []).reduce((a, t) => Math.max(a, t.step), stage.summary?.steps ?? 0);
    const last = schedule[schedule.length - 1];
    if (end > last.step) {
      for (const [series, value] of Object.entries(last.probabilities)) {
        points.push({ step: end, series, value });
      }
    }
    charts.push({
      title: "Planned sampling probabilities",
      note: "from the plan; no measured probabilities in metrics.jsonl",
      spec: lineChart({
        points,
        yTitle: "probability",
        series: only(domains, points),
        stepped: true,
      }),
    });
  }
  return [...charts, ...gateCharts(m?.gates ?? [])];
}

/** Shared pieces of the report's Vega-Lite specs: sizes, colours, thinning long series. */
import type { TopLevelSpec } from "npm:vega-lite@6.5.0";

/** A chart to render: its heading, an optional note shown under it, and the Vega-Lite spec. */
export interface ChartSpec {
  title: string;
  note?: string;
  spec: TopLevelSpec;
}

/** One point of a long-format line series. */
export interface SeriesPoint {
  step: number;
  series: string;
  value: number;
}

/** Tableau 10: distinct enough for the handful of domains a mixture has. */
export const PALETTE: string[] = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

/** Colour reserved for totals so they stand apart from domains. */
export const TOTAL_COLOR = "#222222";

/** Most points drawn per series; longer runs are thinned to keep the report small. */
export const MAX_POINTS = 1000;

/** Keeps every k-th item (and the last) so at most `max` remain; returns the stride used. */
export function thin<T>(items: T[], max: number = MAX_POINTS): { items: T[]; stride: number } {
  if (items.length <= max) return { items, stride: 1 };
  const stride = Math.ceil(items.length / max);
  const kept = items.filter((_, i) => i % stride === 0);
  if ((items.length - 1) % stride !== 0) kept.push(items[items.length - 1]);
  return { items: kept, stride };
}

/** The note shown under a chart whose records were thinned. */
export function thinNote(stride: number, count: number): string | undefined {
  return stride === 1 ? undefined : `${count} records; one in ${stride} drawn`;
}

const BASE_CONFIG = {
  background: "white",
  config: {
    view: { stroke: "#ddd" },
    axis: { labelFontSize: 10, titleFontSize: 11 },
    legend: { labelFontSize: 10 },
  },
} as const;

/** Options of a multi-series line chart. */
export interface LineChartOptions {
  points: SeriesPoint[];
  yTitle: string;
  /** Series names in legend order; fixes each domain's colour across charts. */
  series: string[];
  /** Series drawn in TOTAL_COLOR instead of the palette. */
  totals?: string[];
  /** Draw a dot on each point (for sparse series such as evaluations). */
  dots?: boolean;
  yScale?: "linear" | "log";
  /** Stepwise interpolation for quantities that change in jumps (scheduled probabilities). */
  stepped?: boolean;
}

/** A line chart of `value` over `step`, one coloured line per series. */
export function lineChart(o: LineChartOptions): TopLevelSpec {
  const totals = new Set(o.totals ?? []);
  let next = 0;
  const range = o.series.map((s) => totals.has(s) ? TOTAL_COLOR : PALETTE[next++ % PALETTE.length]);
  return {
    ...BASE_CONFIG,
    width: 400,
    height: 190,
    data: { values: o.points },
    mark: { type: "line", point: o.dots === true, interpolate: o.stepped === true ? "step-after" : "linear" },
    encoding: {
      x: { field: "step", type: "quantitative", title: "step" },
      y: {
        field: "value",
        type: "quantitative",
        title: o.yTitle,
        scale: { type: o.yScale ?? "linear", zero: false },
        // Trimmed general format: a flat series would otherwise be labelled "0.010000".
        axis: { format: "~g" },
      },
      color: {
        field: "series",
        type: "nominal",
        title: null,
        scale: { domain: o.series, range },
        // A lone series is named by the chart title; its legend would only take width.
        legend: o.series.length === 1 ? null : {},
      },
    },
  };
}

/** Base settings every report spec shares (white background, quiet axes). */
export function baseConfig(): typeof BASE_CONFIG {
  return BASE_CONFIG;
}

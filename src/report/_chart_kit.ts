/** Shared pieces of the report's Vega-Lite specs: sizes, colours, thinning long series. */
import type { TopLevelSpec } from "vega-lite";

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

/** Pixels kept between the frame and the highest and lowest points, so no line hides on the frame. */
export const FRAME_PADDING = 6;

/** Tick labels: at most 4 significant digits, trailing zeros trimmed (not `0.16666666666666663`). */
export const TICK_FORMAT = ".4~g";

/**
 * A line chart of `value` over `step`, one coloured line per series. A series with fewer than half the points
 * of the longest (a domain drawn rarely, so logged rarely) is also drawn as dots: a lone point has no line.
 */
export function lineChart(o: LineChartOptions): TopLevelSpec {
  const totals = new Set(o.totals ?? []);
  let next = 0;
  const range = o.series.map((s) => totals.has(s) ? TOTAL_COLOR : PALETTE[next++ % PALETTE.length]);
  const counts = new Map<string, number>();
  for (const p of o.points) counts.set(p.series, (counts.get(p.series) ?? 0) + 1);
  const most = Math.max(0, ...counts.values());
  const sparse = o.dots === true ? [] : o.series.filter((s) => (counts.get(s) ?? 0) * 2 < most);
  const encoding = {
    x: {
      field: "step",
      type: "quantitative",
      title: "step",
      // steps are whole numbers: no "2.000000" under a run of one logged step
      axis: { format: "~d", tickMinStep: 1 },
    },
    y: {
      field: "value",
      type: "quantitative",
      title: o.yTitle,
      scale: {
        type: o.yScale ?? "linear",
        zero: false,
        nice: false,
        padding: FRAME_PADDING,
        ...flatDomain(o.points),
      },
      axis: { format: TICK_FORMAT },
    },
    color: {
      field: "series",
      type: "nominal",
      title: null,
      scale: { domain: o.series, range },
      // A lone series is named by the chart title; its legend would only take width.
      legend: o.series.length === 1 ? null : {},
    },
  } as const;
  const line = {
    mark: { type: "line", point: o.dots === true, interpolate: o.stepped === true ? "step-after" : "linear" },
    encoding,
  } as const;
  return {
    ...BASE_CONFIG,
    width: 400,
    height: 190,
    data: { values: o.points },
    layer: sparse.length === 0 ? [line] : [line, {
      transform: [{ filter: { field: "series", oneOf: sparse } }],
      mark: { type: "point", filled: true, size: 24 },
      encoding,
    }],
  } as TopLevelSpec;
}

/**
 * An explicit y domain for a (nearly) constant series, ±1% around it: left to itself the axis would label
 * a range of a few ulps with 18-digit ticks.
 */
function flatDomain(points: SeriesPoint[]): { domain?: [number, number] } {
  const values = points.map((p) => p.value).filter(Number.isFinite);
  if (values.length === 0) return {};
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const size = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo > size * 1e-4) return {};
  const half = size === 0 ? 1 : size * 0.01;
  const mid = (lo + hi) / 2;
  return { domain: [mid - half, mid + half] };
}

/** Base settings every report spec shares (white background, quiet axes). */
export function baseConfig(): typeof BASE_CONFIG {
  return BASE_CONFIG;
}

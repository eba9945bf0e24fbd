/** A small SVG line chart: one polyline per series over a shared x axis, redrawn as points arrive. */

/** A named line of [x, y] points. */
export interface Series {
  name: string;
  points: [number, number][];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
const W = 420;
const H = 200;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}

/** The chart's SVG markup for `series` (an empty frame when there are no points yet). */
export function lineChart(series: Series[]): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (all.length === 0) return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"></svg>`;
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const px = (x: number) => PAD.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const py = (y: number) => PAD.top + (1 - (y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const lines = series.map((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y)).map(([x, y]) =>
      `${px(x).toFixed(1)},${py(y).toFixed(1)}`
    );
    const color = COLORS[i % COLORS.length];
    const dot = pts.length === 1
      ? `<circle cx="${pts[0].split(",")[0]}" cy="${pts[0].split(",")[1]}" r="3" fill="${color}"/>`
      : "";
    return `<polyline class="line" fill="none" stroke="${color}" stroke-width="1.5" points="${
      pts.join(" ")
    }"/>${dot}`;
  });
  const legend = series.length > 1
    ? series.map((s, i) =>
      `<text x="${PAD.left + 6}" y="${PAD.top + 12 + 12 * i}" font-size="11" fill="${
        COLORS[i % COLORS.length]
      }">${escape(s.name)}</text>`
    ).join("")
    : "";
  const axes =
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${
      H - PAD.bottom
    }" stroke="#888"/>` +
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#888"/>` +
    `<text x="${PAD.left - 4}" y="${PAD.top + 8}" font-size="10" text-anchor="end">${fmt(y1)}</text>` +
    `<text x="${PAD.left - 4}" y="${H - PAD.bottom}" font-size="10" text-anchor="end">${fmt(y0)}</text>` +
    `<text x="${PAD.left}" y="${H - 6}" font-size="10">${fmt(x0)}</text>` +
    `<text x="${W - PAD.right}" y="${H - 6}" font-size="10" text-anchor="end">step ${fmt(x1)}</text>`;
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}">${axes}${lines.join("")}${legend}</svg>`;
}

function escape(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

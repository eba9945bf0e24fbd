/** HTML building blocks for the reports: escaping, number formats, tables and the page shell. */

/** Escapes text for use in HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** Integers with thousands separators; other numbers to 4 significant digits. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/** Bytes in binary units (1.50 MiB). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** A table cell: plain values are formatted and escaped; `{ html }` is inserted as is. */
export type Cell = string | number | null | undefined | { html: string };

function cell(value: Cell): string {
  if (value === null || value === undefined) return '<td class="empty">—</td>';
  if (typeof value === "number") return `<td class="num">${escapeHtml(formatNumber(value))}</td>`;
  if (typeof value === "string") return `<td>${escapeHtml(value)}</td>`;
  return `<td>${value.html}</td>`;
}

/** An HTML table with an optional caption. */
export function table(columns: string[], rows: Cell[][], caption?: string): string {
  const head = columns.map((c) => `<th>${escapeHtml(c)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("\n");
  const cap = caption === undefined ? "" : `<caption>${escapeHtml(caption)}</caption>`;
  return `<table>${cap}<thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** A chart figure: heading, rendered SVG and an optional note. */
export function figure(title: string, svg: string, note?: string): string {
  const caption = note === undefined ? "" : `<p class="note">${escapeHtml(note)}</p>`;
  return `<figure class="chart"><figcaption>${escapeHtml(title)}</figcaption>${svg}${caption}</figure>`;
}

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f; margin: 0; background: #f6f6f4; }
main { max-width: 1180px; margin: 0 auto; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 20px 0 8px; } .meta, .note { color: #666; font-size: 12px; }
code { font: 12px ui-monospace, monospace; background: #ecece8; padding: 1px 4px; border-radius: 3px; }
.badge { display: inline-block; font-size: 11px; padding: 1px 7px; border-radius: 9px; background: #dde4ee; margin-left: 6px; }
.badge.cached { background: #efe3c8; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { background: white; border: 1px solid #ddd; border-radius: 6px; margin: 0; padding: 8px 10px; overflow-x: auto; }
figcaption { font-weight: 600; font-size: 13px; margin-bottom: 4px; }
table { border-collapse: collapse; background: white; margin: 8px 0 12px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #ddd; padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: #efefeb; } td.num { text-align: right; font-variant-numeric: tabular-nums; } td.empty { color: #aaa; }
details summary { cursor: pointer; color: #444; }
`;

/** The full self-contained page: inline CSS, no scripts, no external resources. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

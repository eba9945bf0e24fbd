/**
 * Row lookup (embeddings) and its scatter-add backward, summed without atomics so results are reproducible.
 * A frozen table may be stored in 16 bits (f16 or bf16, read exactly); tables over one binding are read and
 * written in pieces of rows.
 */
import source from "../../../kernels/gather.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Attrs, type Node, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps, type Half, type KernelCall } from "../op.ts";
import { PIECE_BYTES, rowPieces } from "./_binding.ts";

export { PIECE_BYTES, pieceRows } from "./_binding.ts";

const halfSources = new Map<Half, string>();

/** The gather kernel reading its table in 16 bits: two values a 32-bit word, the first in the low half. */
function halfSource(half: Exclude<Half, false>): string {
  const cached = halfSources.get(half);
  if (cached !== undefined) return cached;
  const binding = "var<storage, read> src: array<f32>;";
  const line = /^fn srcAt\(.*$/m;
  if (!source.includes(binding) || !line.test(source)) {
    throw new Error(`gather kernel lacks "${binding}" or the line "fn srcAt(...) { return src[i]; }"`);
  }
  const at = half === "bf16"
    // bf16 is the upper half of an f32: a shift or a mask is the exact value
    ? "let w = src[i / 2u]; return bitcast<f32>(select(w & 0xffff0000u, w << 16u, i % 2u == 0u));"
    : "let v = unpack2x16float(src[i / 2u]); return select(v.y, v.x, i % 2u == 0u);";
  const text = source.replace(binding, "var<storage, read> src: array<u32>;")
    .replace(line, `fn srcAt(i: u32) -> f32 { ${at} }`);
  halfSources.set(half, text);
  return text;
}

/**
 * Gather over `table` rows ([rows, d] input 0, f32 or `half`), one call per piece; the first call writes
 * every element.
 */
function gatherCalls(n: number, d: number, rows: number, half: Half, pieceBytes: number): KernelCall[] {
  const bytes = half ? 2 : 4;
  const text = half ? halfSource(half) : source;
  return rowPieces(rows, d, bytes, pieceBytes).map((piece, k) => ({
    kernel: "gather",
    source: text,
    entry: "gather",
    params: params([
      ["u32", n],
      ["u32", d],
      ["u32", piece.rows],
      ["u32", 0],
      ["u32", piece.first],
      ["u32", k === 0 ? 1 : 0],
    ]),
    workgroups: grid(n, 256),
    bind: [{ in: 1 }, { in: 0, offset: piece.first * d * bytes, size: piece.rows * d * bytes }, {
      out: true,
    }],
  }));
}

/** The gradient of a [rows, d] table, one call per piece of its rows. */
function gatherGradCalls(d: number, rows: number, positions: number, pieceBytes: number): KernelCall[] {
  return rowPieces(rows, d, 4, pieceBytes).map((piece) => ({
    kernel: "gather",
    source,
    entry: "gather_grad",
    params: params([
      ["u32", piece.rows * d],
      ["u32", d],
      ["u32", piece.rows],
      ["u32", positions],
      ["u32", piece.first],
      ["u32", 0],
    ]),
    workgroups: grid(piece.rows * d, 256),
    bind: [{ in: 0 }, { in: 1 }, { out: true, offset: piece.first * d * 4, size: piece.rows * d * 4 }],
  }));
}

/** The most bytes of the table one call binds: `pieceBytes` in the attributes (tests), else PIECE_BYTES. */
function pieceBytesOf(attrs: Attrs): number {
  return (attrs.pieceBytes as number | undefined) ?? PIECE_BYTES;
}

/** The row an index value names; bad indices are a caller bug, so the reference throws. */
function row(op: string, value: number, position: number, rows: number): number {
  const v = Math.trunc(value);
  if (!(v >= 0 && v < rows)) {
    throw new RangeError(`${op}: index ${value} at position ${position} is outside the table's ${rows} rows`);
  }
  return v;
}

defineOps(
  {
    name: "gather",
    shape: ([table, idx]) => {
      if (table.length !== 2) {
        throw new ShapeError(`gather: table must be [rows, d], found ${showShape(table)}`);
      }
      return [...idx, table[1]];
    },
    cpu: ([table, idx], [[rows, d]], _attrs, out) => {
      const y = new Float64Array(sizeOf(out));
      idx.forEach((value, r) => {
        const v = row("gather", value, r, rows);
        y.set(table.subarray(v * d, (v + 1) * d), r * d);
      });
      return y;
    },
    grad: (n, g) => [gatherGrad(n.inputs[1], g, n.inputs[0].shape[0]), null],
    gpu: ([[rows, d]], attrs, out, half) => ({
      calls: gatherCalls(sizeOf(out), d, rows, half?.[0] ?? false, pieceBytesOf(attrs)),
    }),
    // a frozen table (an embedding, tied or not) may be kept in 16 bits; trainable ones are f32
    halfInputs: [0],
  },
  {
    name: "gather_grad",
    shape: ([idx, g], attrs) => {
      const d = g[g.length - 1];
      if (g.length !== idx.length + 1 || idx.some((k, i) => k !== g[i])) {
        throw new ShapeError(
          `gather_grad: gradient ${showShape(g)} does not match indices ${showShape(idx)} + [d]`,
        );
      }
      return [attrs.rows as number, d];
    },
    cpu: ([idx, g], _shapes, _attrs, out) => {
      const [rows, d] = out;
      const y = new Float64Array(sizeOf(out));
      idx.forEach((value, r) => {
        const v = row("gather_grad", value, r, rows);
        for (let c = 0; c < d; c++) y[v * d + c] += g[r * d + c];
      });
      return y;
    },
    grad: (n, gg) => [null, gather(gg, n.inputs[0])],
    gpu: ([idx], attrs, out) => ({
      calls: gatherGradCalls(out[1], out[0], sizeOf(idx), pieceBytesOf(attrs)),
    }),
  },
);

/** Rows of `table` ([rows, d]) picked by `idx` (any shape, exact integer values): shape [...idx, d]. */
export function gather(table: Node, idx: Node): Node {
  return apply("gather", [table, idx]);
}

/** Backward of gather: `g` ([...idx, d]) summed into a [rows, d] table at the rows `idx` names. */
export function gatherGrad(idx: Node, g: Node, rows: number): Node {
  return apply("gather_grad", [idx, g], { rows });
}

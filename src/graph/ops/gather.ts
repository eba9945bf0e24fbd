/** Row lookup (embeddings) and its scatter-add backward, summed without atomics so results are reproducible. */
import source from "../../../kernels/gather.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps, type KernelCall } from "../op.ts";
import { PIECE_BYTES } from "./_binding.ts";

export { PIECE_BYTES };

/** Rows of a [rows, d] f32 table per piece: within PIECE_BYTES, a multiple of 64 so offsets align to 256 bytes. */
export function pieceRows(rows: number, d: number): number {
  const fit = Math.floor(PIECE_BYTES / (4 * d) / 64) * 64;
  return Math.min(rows, Math.max(64, fit));
}

/** The pieces [first, first + rows) of a table of `rows` rows of `d` floats. */
function pieces(rows: number, d: number): { first: number; rows: number }[] {
  const step = pieceRows(rows, d);
  const out = [];
  for (let first = 0; first < rows; first += step) out.push({ first, rows: Math.min(step, rows - first) });
  return out;
}

/** Gather over `table` rows ([rows, d] input 0), one call per piece; the first call writes every element. */
function gatherCalls(n: number, d: number, rows: number): KernelCall[] {
  return pieces(rows, d).map((piece, k) => ({
    kernel: "gather",
    source,
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
    bind: [{ in: 1 }, { in: 0, offset: piece.first * d * 4, size: piece.rows * d * 4 }, { out: true }],
  }));
}

/** The gradient of a [rows, d] table, one call per piece of its rows. */
function gatherGradCalls(d: number, rows: number, positions: number): KernelCall[] {
  return pieces(rows, d).map((piece) => ({
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
    gpu: ([[rows, d]], _attrs, out) => ({ calls: gatherCalls(sizeOf(out), d, rows) }),
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
    gpu: ([idx], _attrs, out) => ({ calls: gatherGradCalls(out[1], out[0], sizeOf(idx)) }),
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

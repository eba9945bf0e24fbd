/** Row lookup (embeddings) and its scatter-add backward, summed without atomics so results are reproducible. */
import source from "../../../kernels/gather.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps, type KernelCall } from "../op.ts";

function call(
  entry: "gather" | "gather_grad",
  n: number,
  d: number,
  rows: number,
  positions: number,
): KernelCall {
  return {
    kernel: "gather",
    source,
    entry,
    params: params([["u32", n], ["u32", d], ["u32", rows], ["u32", positions]]),
    workgroups: grid(n, 256),
    bind: entry === "gather" ? [{ in: 1 }, { in: 0 }, { out: true }] : [{ in: 0 }, { in: 1 }, { out: true }],
  };
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
    gpu: ([[rows, d]], _attrs, out) => ({ calls: [call("gather", sizeOf(out), d, rows, 0)] }),
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
      calls: [call("gather_grad", sizeOf(out), out[1], attrs.rows as number, sizeOf(idx))],
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

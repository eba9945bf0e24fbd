/** Reductions: sum, mean and max over one axis, sum of everything, and sumTo (undoing a broadcast). */
import source from "../../../kernels/reduce.wgsl" with { type: "text" };
import maxGradSource from "../../../kernels/max_grad.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Attrs, type Node, type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, type BindingRef, defineOps, type KernelCall, type OpDef } from "../op.ts";
import { normAxis, splitAt } from "./_layout.ts";
import { mul } from "./elementwise.ts";
import { fill } from "./fill.ts";
import { reshape } from "./reshape.ts";
import { broadcastTo } from "./shape.ts";
import { scale } from "./unary.ts";

/** Rows at most this long are reduced by one thread each; longer rows get a workgroup tree. */
const SHORT_ROW = 64;
/** sum_all first reduces chunks of this many elements when the tensor is larger than one chunk squared. */
const CHUNK = 4096;

const MODE = { sum: 0, max: 1, argmax: 2 } as const;

/** A reduce kernel call over the middle axis of an [outer, len, inner] view (`count` cuts ragged tails). */
function reduceCall(
  rows: number,
  len: number,
  inner: number,
  mode: number,
  from: BindingRef,
  to: BindingRef,
  count = rows * len,
): KernelCall {
  const tree = len > SHORT_ROW;
  return {
    kernel: "reduce",
    source,
    entry: tree ? "tree" : "rows",
    params: params([["u32", rows], ["u32", len], ["u32", inner], ["u32", count], ["u32", mode]]),
    workgroups: tree ? grid(rows, 1) : grid(rows, 256),
    bind: [from, to],
  };
}

function axisOf(name: string, shape: Shape, attrs: Attrs): number {
  return normAxis(name, shape, attrs.axis as number);
}

/** Shape after reducing `axis`. */
function reducedShape(shape: Shape, axis: number, keepDims: boolean): Shape {
  return keepDims ? shape.map((d, k) => k === axis ? 1 : d) : shape.filter((_, k) => k !== axis);
}

/** float64 reduction of the middle axis: returns per-row results of `pick` over the row's values. */
function cpuRows(x: Float64Array, shape: Shape, axis: number, pick: (row: number[]) => number): Float64Array {
  const [outer, len, inner] = splitAt(shape, axis);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < inner; c++) {
      const row = Array.from({ length: len }, (_, l) => x[(o * len + l) * inner + c]);
      out[o * inner + c] = pick(row);
    }
  }
  return out;
}

function firstArgMax(row: number[]): number {
  let best = 0;
  for (let l = 1; l < row.length; l++) if (row[l] > row[best]) best = l;
  return best;
}

function reduceOp(name: "sum" | "max", pick: (row: number[]) => number): OpDef {
  return {
    name,
    shape: ([x], attrs) => reducedShape(x, axisOf(name, x, attrs), attrs.keepDims as boolean),
    cpu: ([x], [s], attrs) => cpuRows(x, s, axisOf(name, s, attrs), pick),
    grad: (n, g) => {
      const x = n.inputs[0];
      const axis = axisOf(name, x.shape, n.attrs);
      const gk = reshape(g, reducedShape(x.shape, axis, true));
      return [name === "sum" ? broadcastTo(gk, x.shape) : maxGrad(x, gk, axis)];
    },
    gpu: ([s], attrs) => {
      const [outer, len, inner] = splitAt(s, axisOf(name, s, attrs));
      return {
        calls: [reduceCall(outer * inner, len, inner, MODE[name], { in: 0 }, { out: true }, sizeOf(s))],
      };
    },
  };
}

defineOps(
  reduceOp("sum", (row) => row.reduce((a, b) => a + b, 0)),
  reduceOp("max", (row) => row[firstArgMax(row)]),
  {
    name: "max_grad",
    shape: ([x, g], attrs) => {
      const [outer, , inner] = splitAt(x, axisOf("max_grad", x, attrs));
      if (sizeOf(g) !== outer * inner) {
        throw new ShapeError(`max_grad: gradient ${showShape(g)} does not match the rows of ${showShape(x)}`);
      }
      return x;
    },
    cpu: ([x, g], [s], attrs) => {
      const axis = axisOf("max_grad", s, attrs);
      const [, len, inner] = splitAt(s, axis);
      const arg = cpuRows(x, s, axis, firstArgMax);
      return Float64Array.from(x, (_, i) => {
        const row = Math.floor(i / (inner * len)) * inner + i % inner;
        return Math.floor(i / inner) % len === arg[row] ? g[row] : 0;
      });
    },
    grad: (n, gg) => {
      const [x, g] = n.inputs;
      const axis = n.attrs.axis as number;
      return [null, reshape(sum(mul(gg, maxGrad(x, fill(g.shape, 1), axis)), axis), g.shape)];
    },
    gpu: ([s], attrs) => {
      const [outer, len, inner] = splitAt(s, axisOf("max_grad", s, attrs));
      return {
        calls: [
          reduceCall(outer * inner, len, inner, MODE.argmax, { in: 0 }, { scratch: 0 }, sizeOf(s)),
          {
            kernel: "max_grad",
            source: maxGradSource,
            params: params([["u32", sizeOf(s)], ["u32", len], ["u32", inner]]),
            workgroups: grid(sizeOf(s), 256),
            bind: [{ scratch: 0 }, { in: 1 }, { out: true }],
          },
        ],
        scratch: [outer * inner],
      };
    },
  },
  {
    name: "sum_all",
    shape: () => [],
    cpu: ([x]) => Float64Array.of(x.reduce((a, b) => a + b, 0)),
    grad: (n, g) => [broadcastTo(g, n.inputs[0].shape)],
    gpu: ([s]) => {
      const n = sizeOf(s);
      if (n <= CHUNK * CHUNK / 256) {
        return { calls: [reduceCall(1, n, 1, MODE.sum, { in: 0 }, { out: true })] };
      }
      const chunks = Math.ceil(n / CHUNK);
      return {
        calls: [
          reduceCall(chunks, CHUNK, 1, MODE.sum, { in: 0 }, { scratch: 0 }, n),
          reduceCall(1, chunks, 1, MODE.sum, { scratch: 0 }, { out: true }),
        ],
        scratch: [chunks],
      };
    },
  },
);

/** Sum over `axis` (negative counts from the end). */
export function sum(x: Node, axis: number, keepDims = false): Node {
  return apply("sum", [x], { axis: normAxis("sum", x.shape, axis), keepDims });
}

/** Mean over `axis`. */
export function mean(x: Node, axis: number, keepDims = false): Node {
  const a = normAxis("mean", x.shape, axis);
  return scale(sum(x, a, keepDims), 1 / x.shape[a]);
}

/** Maximum over `axis`; its gradient goes to the first arg-max. */
export function max(x: Node, axis: number, keepDims = false): Node {
  return apply("max", [x], { axis: normAxis("max", x.shape, axis), keepDims });
}

/** Backward of max: `g` (one value per row of `axis`) placed at each row's first arg-max of `x`, else 0. */
export function maxGrad(x: Node, g: Node, axis: number): Node {
  return apply("max_grad", [x, g], { axis: normAxis("max_grad", x.shape, axis) });
}

/** Sum of every element, shape []. */
export function sumAll(x: Node): Node {
  return apply("sum_all", [x]);
}

/** Sums `g` down to `shape`, undoing a numpy broadcast of `shape` to `g.shape` (gradients of broadcasts). */
export function sumTo(g: Node, shape: Shape): Node {
  if (g.shape.join() === shape.join()) return g;
  const n = g.shape.length;
  const target = [...new Array(Math.max(0, n - shape.length)).fill(1), ...shape];
  if (shape.length > n || target.some((d, k) => d !== g.shape[k] && d !== 1)) {
    throw new ShapeError(`sumTo: cannot reduce ${showShape(g.shape)} to ${showShape(shape)}`);
  }
  // Merge runs of adjacent axes that are all kept or all summed, so each run costs one pass at most.
  const groups: { sum: boolean; size: number }[] = [];
  g.shape.forEach((d, k) => {
    if (d === 1) return;
    const summed = target[k] === 1;
    const last = groups[groups.length - 1];
    if (last && last.sum === summed) last.size *= d;
    else groups.push({ sum: summed, size: d });
  });
  let cur = reshape(g, groups.map((x) => x.size));
  for (let k = groups.length - 1; k >= 0; k--) if (groups[k].sum) cur = sum(cur, k);
  return reshape(cur, shape);
}

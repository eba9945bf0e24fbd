/** Data-movement ops: copy, transpose, broadcastTo, slice, pad and concat. */
import stridedSource from "../../../kernels/strided.wgsl" with { type: "text" };
import padSource from "../../../kernels/pad.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Attrs, type Node, type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps, type KernelCall, type Lowering, type OpDef } from "../op.ts";
import {
  broadcastStrides,
  checkRank,
  contiguousStrides,
  forEachStrided,
  normAxis,
  splitAt,
  vecFields,
} from "./_layout.ts";
import { sumTo } from "./reduce.ts";

/** How an output reads its input: strides per output axis and a start offset. */
interface Gather {
  strides: number[];
  offset: number;
}

/** An op whose output is a strided read of its one input, so one kernel and one cpu loop serve all. */
function stridedOp(
  name: string,
  shape: (x: Shape, attrs: Attrs) => Shape,
  gather: (x: Shape, attrs: Attrs, out: Shape) => Gather,
  grad: OpDef["grad"],
): OpDef {
  return {
    name,
    shape: ([x], attrs) => {
      const out = shape(x, attrs);
      checkRank(name, out);
      return out;
    },
    cpu: ([x], [s], attrs, out) => {
      const { strides, offset } = gather(s, attrs, out);
      const y = new Float64Array(sizeOf(out));
      forEachStrided(out, strides, (i, off) => y[i] = x[offset + off]);
      return y;
    },
    grad,
    gpu: ([s], attrs, out): Lowering => {
      const { strides, offset } = gather(s, attrs, out);
      return {
        calls: [{
          kernel: "strided",
          source: stridedSource,
          params: params([
            ["u32", sizeOf(out)],
            ["u32", offset],
            ["u32", 0],
            ["u32", 0],
            ...vecFields(out, 1),
            ...vecFields(strides, 0),
          ]),
          workgroups: grid(sizeOf(out), 256),
          bind: [{ in: 0 }, { out: true }],
        }],
      };
    },
  };
}

function padCall(
  entry: "pad" | "place",
  n: number,
  lenIn: number,
  lenOut: number,
  inner: number,
  start: number,
) {
  return {
    kernel: "pad",
    source: padSource,
    entry,
    params: params([["u32", n], ["u32", lenIn], ["u32", lenOut], ["u32", inner], ["u32", start]]),
    workgroups: grid(n, 256),
  };
}

/** Copies `x` ([outer, lenIn, inner]) into rows start.. of `y` ([outer, lenOut, inner]). */
function placeCpu(
  x: Float64Array,
  y: Float64Array,
  outer: number,
  lenIn: number,
  lenOut: number,
  inner: number,
  start: number,
) {
  for (let o = 0; o < outer; o++) {
    y.set(x.subarray(o * lenIn * inner, (o + 1) * lenIn * inner), (o * lenOut + start) * inner);
  }
}

function checkPerm(x: Shape, perm: readonly number[]): void {
  const ok = perm.length === x.length && [...perm].sort((a, b) => a - b).every((p, k) => p === k);
  if (!ok) {
    throw new ShapeError(
      `transpose: [${perm.join(",")}] is not a permutation of the axes of ${showShape(x)}`,
    );
  }
}

defineOps(
  stridedOp("copy", (x) => x, (x) => ({ strides: contiguousStrides(x), offset: 0 }), (_n, g) => [g]),
  stridedOp(
    "broadcast_to",
    (x, attrs) => {
      const to = attrs.shape as Shape;
      const fits = to.length >= x.length && x.every((d, k) => d === 1 || d === to[to.length - x.length + k]);
      if (!fits) {
        throw new ShapeError(`broadcastTo: cannot broadcast ${showShape(x)} to ${showShape(to)}`);
      }
      return to;
    },
    (x, _attrs, out) => ({ strides: broadcastStrides(x, out), offset: 0 }),
    (n, g) => [sumTo(g, n.inputs[0].shape)],
  ),
  stridedOp(
    "transpose",
    (x, attrs) => {
      const perm = attrs.perm as number[];
      checkPerm(x, perm);
      return perm.map((p) => x[p]);
    },
    (x, attrs) => {
      const own = contiguousStrides(x);
      return { strides: (attrs.perm as number[]).map((p) => own[p]), offset: 0 };
    },
    (n, g) => {
      const perm = n.attrs.perm as number[];
      const inverse = perm.map((_, k) => perm.indexOf(k));
      return [transpose(g, inverse)];
    },
  ),
  stridedOp(
    "slice",
    (x, attrs) => x.map((d, k) => k === attrs.axis ? (attrs.end as number) - (attrs.start as number) : d),
    (x, attrs) => {
      const own = contiguousStrides(x);
      return { strides: own, offset: (attrs.start as number) * own[attrs.axis as number] };
    },
    (n, g) => {
      const { axis, start, end } = n.attrs as { axis: number; start: number; end: number };
      return [pad(g, axis, start, n.inputs[0].shape[axis] - end)];
    },
  ),
  {
    name: "pad",
    shape: ([x], attrs) =>
      x.map((d, k) => k === attrs.axis ? d + (attrs.before as number) + (attrs.after as number) : d),
    cpu: ([x], [s], attrs, out) => {
      const [outer, len, inner] = splitAt(s, attrs.axis as number);
      const y = new Float64Array(sizeOf(out));
      placeCpu(x, y, outer, len, out[attrs.axis as number], inner, attrs.before as number);
      return y;
    },
    grad: (n, g) => {
      const { axis, before } = n.attrs as { axis: number; before: number };
      return [slice(g, axis, before, before + n.inputs[0].shape[axis])];
    },
    gpu: ([s], attrs, out) => {
      const axis = attrs.axis as number;
      const [, len, inner] = splitAt(s, axis);
      const call = padCall("pad", sizeOf(out), len, out[axis], inner, attrs.before as number);
      return { calls: [{ ...call, bind: [{ in: 0 }, { out: true }] }] };
    },
  },
  {
    name: "concat",
    shape: (xs, attrs) => {
      const axis = attrs.axis as number;
      const first = xs[0];
      for (const s of xs) {
        if (s.length !== first.length || s.some((d, k) => k !== axis && d !== first[k])) {
          throw new ShapeError(
            `concat: shapes ${xs.map(showShape).join(", ")} differ outside axis ${axis}`,
          );
        }
      }
      return first.map((d, k) => k === axis ? xs.reduce((t, s) => t + s[axis], 0) : d);
    },
    cpu: (xs, shapes, attrs, out) => {
      const axis = attrs.axis as number;
      const y = new Float64Array(sizeOf(out));
      let start = 0;
      xs.forEach((x, j) => {
        const [outer, len, inner] = splitAt(shapes[j], axis);
        placeCpu(x, y, outer, len, out[axis], inner, start);
        start += len;
      });
      return y;
    },
    grad: (n, g) => {
      const axis = n.attrs.axis as number;
      let start = 0;
      return n.inputs.map((x) => slice(g, axis, start, start += x.shape[axis]));
    },
    gpu: (shapes, attrs, out) => {
      const axis = attrs.axis as number;
      let start = 0;
      const calls: KernelCall[] = shapes.map((s, j) => {
        const [, len, inner] = splitAt(s, axis);
        const call = padCall("place", sizeOf(s), len, out[axis], inner, start);
        start += len;
        return { ...call, bind: [{ in: j }, { out: true }] };
      });
      return { calls };
    },
  },
);

/** A fresh copy of `x` (a new buffer, e.g. to keep a value past an in-place update). */
export function copy(x: Node): Node {
  return apply("copy", [x]);
}

/** `x` repeated along broadcast axes to `shape` (numpy rules: leading axes added, size-1 axes stretched). */
export function broadcastTo(x: Node, shape: Shape): Node {
  if (x.shape.join() === shape.join()) return x;
  return apply("broadcast_to", [x], { shape });
}

/** Axes reordered: output axis k is input axis `perm[k]`. */
export function transpose(x: Node, perm: readonly number[]): Node {
  return apply("transpose", [x], { perm: [...perm] });
}

/** Elements `start` to `end` (exclusive) along `axis`. */
export function slice(x: Node, axis: number, start: number, end: number): Node {
  const a = normAxis("slice", x.shape, axis);
  const d = x.shape[a];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > d || start >= end) {
    throw new ShapeError(
      `slice: range [${start}, ${end}) is not a non-empty part of axis ${a} of ${showShape(x.shape)}`,
    );
  }
  return apply("slice", [x], { axis: a, start, end });
}

/** `x` with `before` and `after` zeros added along `axis`. */
export function pad(x: Node, axis: number, before: number, after: number): Node {
  const a = normAxis("pad", x.shape, axis);
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new ShapeError(`pad: before ${before} and after ${after} must be integers >= 0`);
  }
  return apply("pad", [x], { axis: a, before, after });
}

/** `xs` joined along `axis`; all other axes must match. */
export function concat(xs: readonly Node[], axis: number): Node {
  if (xs.length === 0) throw new ShapeError("concat: needs at least one tensor");
  const a = normAxis("concat", xs[0].shape, axis);
  if (xs.length === 1) return xs[0];
  return apply("concat", xs, { axis: a });
}

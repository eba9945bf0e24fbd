/** Shape arithmetic shared by the elementwise, reduction and shape ops: broadcasting, strides, uniforms. */
import { type Shape, ShapeError, showShape } from "../node.ts";

/** Kernels index at most this many dimensions (strides travel in the uniform). */
export const MAX_DIMS = 6;

/** Uniform fields as `params()` takes them. */
export type Fields = Array<["u32" | "i32" | "f32", number]>;

/** The numpy broadcast of two shapes; `op` names the caller in the error. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Shape {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    const da = a[a.length - n + k] ?? 1;
    const db = b[b.length - n + k] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`${op}: cannot broadcast ${showShape(a)} with ${showShape(b)}`);
    }
    out.push(da === 1 ? db : da);
  }
  checkRank(op, out);
  return out;
}

/** Throws when a shape has more dimensions than the kernels index. */
export function checkRank(op: string, shape: Shape): void {
  if (shape.length > MAX_DIMS) {
    throw new ShapeError(`${op}: at most ${MAX_DIMS} dimensions are supported, found ${showShape(shape)}`);
  }
}

/** Row-major strides of a contiguous tensor. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    s[k] = acc;
    acc *= shape[k];
  }
  return s;
}

/** Strides reading `from` (contiguous) at the coordinates of `to`, right-aligned; 0 along broadcast axes. */
export function broadcastStrides(from: Shape, to: Shape): number[] {
  const own = contiguousStrides(from);
  return to.map((_, k) => {
    const j = from.length - to.length + k;
    return j < 0 || from[j] === 1 ? 0 : own[j];
  });
}

/** A dim list padded with leading `fill` to MAX_DIMS entries, packed as two vec4<u32> (8 slots). */
export function vecFields(values: readonly number[], fill: number): Fields {
  const padded = [...new Array(MAX_DIMS - values.length).fill(fill), ...values, 0, 0];
  return padded.map((v) => ["u32", v]);
}

/** Canonical axis in [0, rank); negative counts from the end. */
export function normAxis(op: string, shape: Shape, axis: number): number {
  const a = axis < 0 ? axis + shape.length : axis;
  if (!Number.isInteger(a) || a < 0 || a >= shape.length) {
    throw new ShapeError(`${op}: axis ${axis} is out of range for shape ${showShape(shape)}`);
  }
  return a;
}

/** Sizes before, along and after `axis`: the [outer, len, inner] view of a tensor. */
export function splitAt(shape: Shape, axis: number): [number, number, number] {
  let outer = 1, inner = 1;
  for (let k = 0; k < axis; k++) outer *= shape[k];
  for (let k = axis + 1; k < shape.length; k++) inner *= shape[k];
  return [outer, shape[axis], inner];
}

/** Calls `visit(i, offset)` for each element of `out` with the input offset given by `strides`. */
export function forEachStrided(
  out: Shape,
  strides: readonly number[],
  visit: (i: number, off: number) => void,
): void {
  const n = out.reduce((p, d) => p * d, 1);
  const coord = new Array<number>(out.length).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    visit(i, off);
    for (let k = out.length - 1; k >= 0; k--) {
      coord[k]++;
      off += strides[k];
      if (coord[k] < out[k]) break;
      off -= strides[k] * out[k];
      coord[k] = 0;
    }
  }
}

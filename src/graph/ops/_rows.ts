/** Shared pieces of the row kernels (softmax, layer norm, cross entropy, l2 normalize): one workgroup per row. */
import prefix from "../../../kernels/_rows.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import type { BindingRef, KernelCall } from "../op.ts";

/** Threads per row; must match WG in kernels/_rows.wgsl. */
export const ROW_THREADS = 64;

/** A kernel body with the shared row helpers (`row_index`, `row_sum`, `row_max`) in front. */
export function rowKernel(body: string): string {
  return prefix + body;
}

/** [rows, len] of `shape` reduced over its last axis; `op` names the caller in the error. */
export function lastAxis(op: string, shape: Shape): [number, number] {
  const len = shape[shape.length - 1];
  if (shape.length === 0 || len === 0) {
    throw new ShapeError(`${op}: needs a non-empty last axis, found shape ${showShape(shape)}`);
  }
  return [sizeOf(shape) / len, len];
}

/** Throws unless `a` and `b` are the same shape. */
export function sameShape(op: string, a: Shape, b: Shape, what = "gradient"): void {
  if (a.join() !== b.join()) {
    throw new ShapeError(`${op}: ${what} ${showShape(b)} does not match ${showShape(a)}`);
  }
}

/** One dispatch of `entry` with a workgroup per row; the uniform starts with rows and len. */
export function rowCall(
  kernel: string,
  source: string,
  rows: number,
  len: number,
  bind: readonly BindingRef[],
  extra: ReadonlyArray<readonly ["u32" | "i32" | "f32", number]> = [],
  entry = "main",
): KernelCall {
  return {
    kernel,
    source,
    entry,
    params: params([["u32", rows], ["u32", len], ...extra]),
    workgroups: grid(rows, 1),
    bind,
  };
}

/** Shared pieces of the row kernels (softmax, layer norm, cross entropy, l2 normalize). */
import groupPrefix from "../../../kernels/_rows.wgsl" with { type: "text" };
import lanePrefix from "../../../kernels/_rows_lane.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import type { BindingRef, KernelCall } from "../op.ts";

/** Threads per row in workgroup mode; must match WG in kernels/_rows.wgsl. */
export const ROW_THREADS = 64;
/** Rows per workgroup in lane mode; must match WG in kernels/_rows_lane.wgsl. */
export const LANE_ROWS = 32;
/**
 * Rows up to this long get a lane each; longer rows a workgroup each. Lane mode has no barriers, which on
 * CPU adapters cost far more than walking a short row alone (bench/NOTES.md, lever 2).
 */
export const LANE_MAX_LEN = 256;

/** A row kernel body compiled both ways: a workgroup per row, and a lane per row. */
export interface RowSources {
  group: string;
  lane: string;
}

/** A kernel body with the shared row helpers (`row_index`, `row_lane`, `row_sum`, `row_max`) in front. */
export function rowKernel(body: string): RowSources {
  return { group: groupPrefix + body, lane: lanePrefix + body };
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

/** One dispatch of `entry` over `rows` rows of `len` (a lane or a workgroup per row); the uniform starts with rows and len. */
export function rowCall(
  kernel: string,
  sources: RowSources,
  rows: number,
  len: number,
  bind: readonly BindingRef[],
  extra: ReadonlyArray<readonly ["u32" | "i32" | "f32", number]> = [],
  entry = "main",
): KernelCall {
  const lane = len <= LANE_MAX_LEN;
  return {
    kernel,
    source: lane ? sources.lane : sources.group,
    entry,
    params: params([["u32", rows], ["u32", len], ...extra]),
    workgroups: lane ? grid(rows, LANE_ROWS) : grid(rows, 1),
    bind,
  };
}

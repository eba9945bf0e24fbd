/**
 * Gradient accumulation: a step's batch run as micro-batches of its rows, each micro-batch's gradients added
 * into the step's before one optimiser step.
 */
import source from "../../kernels/grad_accumulate.wgsl" with { type: "text" };
import { grid, params } from "../gpu/kernels.ts";
import type { KernelCall } from "../graph/op.ts";
import type { Batch } from "./train_step.ts";

/** Rows `k * B / n` up to `(k + 1) * B / n` of every input of a batch of B examples (views, not copies). */
export function microBatch(batch: Batch, k: number, n: number): Batch {
  const rows = batch.weights.length;
  checkMicroBatches(n, rows);
  if (!(Number.isInteger(k) && k >= 0 && k < n)) {
    throw new RangeError(`micro-batch ${k} of ${n} does not exist`);
  }
  const part = (a: Float32Array): Float32Array => {
    const width = a.length / rows;
    if (!Number.isInteger(width)) {
      throw new RangeError(`an input of ${a.length} values is not ${rows} rows (the batch's weights)`);
    }
    return a.subarray(k * (rows / n) * width, (k + 1) * (rows / n) * width);
  };
  return {
    x: part(batch.x),
    labels: part(batch.labels),
    weights: part(batch.weights),
    domains: part(batch.domains),
    ...(batch.gate ? { gate: part(batch.gate) } : {}),
    ...(batch.positions ? { positions: part(batch.positions) } : {}),
  };
}

/** Throws unless `n` is a count of micro-batches and, given `rows`, splits that many examples evenly. */
export function checkMicroBatches(n: number, rows?: number): void {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`accumulate: expected an integer >= 1, found ${n}`);
  }
  if (rows !== undefined && rows % n !== 0) {
    throw new RangeError(`accumulate: expected a factor that divides the batch (${rows}), found ${n}`);
  }
}

/** The call adding `part` (one micro-batch's gradients, `n` floats) into `sum` (the step's). */
export function gradAccumulateCall(part: GPUBuffer, sum: GPUBuffer, n: number): KernelCall {
  return {
    kernel: "grad_accumulate",
    source,
    params: params([["u32", n]]),
    workgroups: grid(n, 256),
    bind: [{ buffer: part }, { buffer: sum }],
  };
}

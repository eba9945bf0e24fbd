/**
 * AdamW for K packed variants over one flat buffer: each element knows its variant, each variant has its
 * own learning rate, gradient norm, clipping and weight decay; betas and eps are shared by the pack.
 */
import adamwSource from "../../kernels/adamw_packed.wgsl" with { type: "text" };
import scaledNorm from "../../kernels/_scaled_norm.wgsl" with { type: "text" };
import normBody from "../../kernels/grad_norm_packed.wgsl" with { type: "text" };
import totalBody from "../../kernels/grad_norm_packed_total.wgsl" with { type: "text" };
import { grid, params } from "../gpu/kernels.ts";
import type { KernelCall } from "../graph/op.ts";

/**
 * Floats of one variant's optimiser state: [lr, bias 1, grad norm, bias 2, step, clip, weight decay, flag];
 * adamw_packed sets the flag to 1 when the variant's new weights or moments are not finite and the step's
 * accumulate_packed reads and clears it.
 */
export const STATE_FLOATS = 8;
const NORM_GROUPS = 16;
/** Overflow-free per-variant norms: the (scale, sum of squares) pairs of the single optimiser's norm. */
const normSource = scaledNorm + normBody;
const totalSource = scaledNorm + totalBody;
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** The flat buffers of a pack; `variant` holds each element's variant as u32 (K for padding). */
export interface PackedAdamwBuffers {
  theta: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  mask: GPUBuffer;
  variant: GPUBuffer;
  n: number;
  variants: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** One variant's settings for a step. */
export interface VariantStep {
  lr: number;
  weightDecay: number;
  /** Largest gradient norm of this variant; 0 or absent: no clipping. */
  clip?: number;
}

/** Norms (always computed: each variant may clip) then the update, bound to fixed buffers. */
export function packedAdamwCalls(
  device: GPUDevice,
  o: PackedAdamwBuffers,
): { calls: KernelCall[]; state: GPUBuffer } {
  const K = o.variants;
  const state = device.createBuffer({
    size: K * STATE_FLOATS * 4,
    usage: USAGE,
    label: "packed_optimizer_state",
  });
  const partials = device.createBuffer({
    size: K * NORM_GROUPS * 8,
    usage: USAGE,
    label: "packed_norm_partials",
  });
  const calls: KernelCall[] = [{
    kernel: "grad_norm_packed",
    source: normSource,
    entry: "partial",
    params: params([["u32", o.n], ["u32", NORM_GROUPS]]),
    workgroups: [NORM_GROUPS, K, 1],
    bind: [{ buffer: o.grad }, { buffer: o.variant }, { buffer: partials }],
  }, {
    kernel: "grad_norm_packed_total",
    source: totalSource,
    params: params([["u32", NORM_GROUPS]]),
    workgroups: [K, 1, 1],
    bind: [{ buffer: partials }, { buffer: state }],
  }, {
    kernel: "adamw_packed",
    source: adamwSource,
    params: params([
      ["u32", o.n],
      ["u32", K],
      ["f32", o.beta1],
      ["f32", o.beta2],
      ["f32", o.eps],
      ["f32", 1 - o.beta1],
      ["f32", 1 - o.beta2],
    ]),
    workgroups: grid(o.n, 256),
    bind: [
      { buffer: o.theta },
      { buffer: o.grad },
      { buffer: o.m },
      { buffer: o.v },
      { buffer: o.mask },
      { buffer: state },
      { buffer: o.variant },
    ],
  }];
  return { calls, state };
}

/** Writes every variant's learning rate, clipping, weight decay and bias corrections for (1-based) `step`. */
export function writePackedState(
  device: GPUDevice,
  state: GPUBuffer,
  step: number,
  betas: { beta1: number; beta2: number },
  variants: readonly VariantStep[],
): void {
  const data = new Float32Array(variants.length * STATE_FLOATS);
  const bias1 = 1 / (1 - betas.beta1 ** step);
  const bias2 = 1 / (1 - betas.beta2 ** step);
  variants.forEach((v, k) => {
    data.set([v.lr, bias1, 0, bias2, step, v.clip ?? 0, v.weightDecay, 0], k * STATE_FLOATS);
  });
  device.queue.writeBuffer(state, 0, data);
}

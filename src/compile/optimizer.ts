/** AdamW with global gradient-norm clipping over one flat buffer of every trainable parameter. */
import adamwSource from "../../kernels/adamw.wgsl" with { type: "text" };
import scaledNorm from "../../kernels/_scaled_norm.wgsl" with { type: "text" };
import normBody from "../../kernels/grad_norm.wgsl" with { type: "text" };
import totalBody from "../../kernels/grad_norm_total.wgsl" with { type: "text" };
import { grid, params } from "../gpu/kernels.ts";
import type { KernelCall } from "../graph/op.ts";

/** The flat buffers and hyper-parameters of one AdamW. */
export interface AdamwOptions {
  theta: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  /** Per element: 1 where weight decay applies, 0 where it does not (biases, norms). */
  mask: GPUBuffer;
  /** Floats in each flat buffer. */
  n: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Largest global gradient norm; absent or 0 means no clipping. */
  clip?: number;
}

const NORM_GROUPS = 64;
/** The overflow-free norm kernels: each body after the shared (scale, sum of squares) helpers. */
const normSource = scaledNorm + normBody;
const totalSource = scaledNorm + totalBody;
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * The kernel calls of one optimiser step (norm, then update), bound to fixed buffers; `state` holds
 * [lr, bias correction 1, grad norm, bias correction 2, step] and is written by `writeOptimizerState` before
 * each step, so the learning rate changes without recompiling; `adamw` sets state[5] to 1 when a new weight or
 * moment is not finite (the step's `accumulate` reads and clears it).
 */
export function adamwCalls(device: GPUDevice, o: AdamwOptions): { calls: KernelCall[]; state: GPUBuffer } {
  const state = device.createBuffer({ size: 32, usage: USAGE, label: "optimizer_state" });
  const partials = device.createBuffer({ size: NORM_GROUPS * 8, usage: USAGE, label: "grad_norm_partials" });
  const clip = o.clip ?? 0;
  const calls: KernelCall[] = [];
  if (clip > 0) {
    calls.push({
      kernel: "grad_norm",
      source: normSource,
      entry: "partial",
      params: params([["u32", o.n], ["u32", NORM_GROUPS]]),
      workgroups: [NORM_GROUPS, 1, 1],
      bind: [{ buffer: o.grad }, { buffer: partials }],
    }, {
      kernel: "grad_norm_total",
      source: totalSource,
      params: params([["u32", NORM_GROUPS]]),
      workgroups: [1, 1, 1],
      bind: [{ buffer: partials }, { buffer: state }],
    });
  }
  calls.push({
    kernel: "adamw",
    source: adamwSource,
    params: params([
      ["u32", o.n],
      ["f32", o.beta1],
      ["f32", o.beta2],
      ["f32", o.eps],
      ["f32", o.weightDecay],
      ["f32", clip],
      ["f32", 1 - o.beta1],
      ["f32", 1 - o.beta2],
    ]),
    workgroups: grid(o.n, 256),
    bind: [{ buffer: o.theta }, { buffer: o.grad }, { buffer: o.m }, { buffer: o.v }, { buffer: o.mask }, {
      buffer: state,
    }],
  });
  return { calls, state };
}

/** Sets the learning rate and the (1-based) step count used for bias correction. */
export function writeOptimizerState(
  device: GPUDevice,
  state: GPUBuffer,
  s: { lr: number; step: number; beta1: number; beta2: number },
): void {
  const bias1 = 1 / (1 - s.beta1 ** s.step);
  const bias2 = 1 / (1 - s.beta2 ** s.step);
  device.queue.writeBuffer(state, 0, new Float32Array([s.lr, bias1, 0, bias2, s.step]));
}

/** float64 AdamW step, the reference for the kernels; updates theta, m and v in place, returns the norm. */
export function adamwReference(
  theta: Float64Array,
  grad: Float64Array,
  m: Float64Array,
  v: Float64Array,
  mask: Float64Array,
  o: {
    lr: number;
    step: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
    clip?: number;
  },
): number {
  let sq = 0;
  for (const g of grad) sq += g * g;
  const norm = Math.sqrt(sq);
  const k = o.clip ? Math.min(1, o.clip / (norm + 1e-6)) : 1;
  for (let i = 0; i < theta.length; i++) {
    const g = grad[i] * k;
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    const mhat = m[i] / (1 - o.beta1 ** o.step);
    const vhat = v[i] / (1 - o.beta2 ** o.step);
    theta[i] -= o.lr * (mhat / (Math.sqrt(vhat) + o.eps) + o.weightDecay * mask[i] * theta[i]);
  }
  return norm;
}

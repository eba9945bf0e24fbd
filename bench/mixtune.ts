/**
 * mixtune's side of the benchmark: the same LoRA ViT-tiny step as the peers (same initial values and batch,
 * from bench/peers/workload.ts), compiled once and replayed; matmul throughput through the matmul op.
 */
import "../src/graph/ops/mod.ts";
import { Program } from "../src/compile/program.ts";
import type { FrozenDtype } from "../src/compile/half_weights.ts";
import { type StepMemory, TrainStep } from "../src/compile/train_step.ts";
import { gpu } from "../src/gpu/device.ts";
import { input } from "../src/graph/node.ts";
import { matmul } from "../src/graph/ops/matmul.ts";
import type { VitConfig } from "../src/models/config.ts";
import { buildModel } from "../src/models/graph.ts";
import type { MatmulResult, MatmulShape } from "./peers/tfjs_step.ts";
import { makeInit, median, type PeerStepResult, type PeerWorkload, WORKLOAD } from "./peers/workload.ts";

/** The workload's model as a mixtune config. */
export function workloadConfig(w: PeerWorkload): VitConfig {
  return {
    backbone: "vit",
    image: w.image,
    patch: w.patch,
    dim: w.dim,
    depth: w.depth,
    heads: w.heads,
    mlpRatio: w.mlpRatio,
    embedDim: w.embedDim,
    classes: w.classes,
  };
}

/** A compiled step of the workload with the peers' initial values and batch loaded. */
export async function workloadStep(
  w: PeerWorkload = WORKLOAD,
  seed = 1,
  frozenDtype: FrozenDtype = "f32",
  device?: GPUDevice,
): Promise<TrainStep> {
  device ??= (await gpu()).device;
  const lora = Array.from({ length: w.depth }, (_, i) => ({
    path: `blocks.${i}.attn.qkv`,
    rank: w.rank,
    scale: 1,
    gated: false,
  }));
  const model = buildModel(workloadConfig(w), {
    batch: w.batch,
    domains: 1,
    loss: { kind: "cosface", scale: w.cosfaceS, margin: w.cosfaceM },
    lora,
    trainable: (name) => name === "head.weight",
  });
  const step = await TrainStep.compile(device, model, {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    frozenDtype,
  });
  const init = makeInit(seed, w);
  const values = new Map<string, Float32Array>();
  for (const [name, v] of init.params) {
    values.set(name.endsWith("lora_A") || name.endsWith("lora_B") ? `${name}.weight` : name, v);
  }
  step.store.upload(values);
  step.feed({
    x: init.images,
    labels: Float32Array.from(init.labels),
    weights: new Float32Array(w.batch).fill(1),
    domains: new Float32Array(w.batch).fill(1),
  });
  return step;
}

/** Median step time, each step synchronised by reading its loss back (as the peers do), plus memory. */
export async function mixtuneStep(
  opts: { warmup?: number; steps?: number; workload?: PeerWorkload } = {},
): Promise<PeerStepResult & { memory: StepMemory; pipelinedMs: number; kernels: number }> {
  const w = opts.workload ?? WORKLOAD;
  const warmup = opts.warmup ?? 3;
  const steps = opts.steps ?? 10;
  const step = await workloadStep(w);
  const losses: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    step.run(w.lr);
    losses.push((await step.drainMetrics()).loss);
    if (i >= warmup) times.push(performance.now() - t0);
  }
  // Without a readback per step: what a training run does between its every-N-steps metric reads.
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step.run(w.lr);
  await step.drainMetrics();
  const pipelinedMs = (performance.now() - t0) / steps;
  let total = 0;
  let trainable = 0;
  for (const p of step.model.params.values()) {
    total += p.size;
    if (p.trainable) trainable += p.size;
  }
  const result = {
    backend: "mixtune (WebGPU)",
    adapterInfo: (await gpu()).adapter.description,
    stepMsMedian: median(times),
    stepMsAll: times,
    steps,
    params: { total, trainable },
    losses,
    memory: step.memory(),
    pipelinedMs,
    kernels: step.kernels().length,
  };
  step.destroy();
  return result;
}

/** A matmul shape the adapter cannot bind, and why. */
export interface MatmulDoesNotFit extends MatmulShape {
  doesNotFit: string;
}

/** `256x384 @ (50257x384)^T` for a transposed B, else `256x384 @ 384x50257`. */
export function shapeLabel(s: MatmulShape): string {
  return `${s.m}x${s.k} @ ${s.transB ? `(${s.n}x${s.k})^T` : `${s.k}x${s.n}`}`;
}

/**
 * Matmul throughput through the matmul op: `inner` products per submit, median over samples. A shape with an
 * operand larger than the adapter binds (other than a transposed B, which the op reads in pieces of rows) is
 * reported as not fitting instead of being run.
 */
export async function mixtuneMatmulGflops(
  shapes: MatmulShape[],
): Promise<(MatmulResult | MatmulDoesNotFit)[]> {
  const { device, limits } = await gpu();
  const out: (MatmulResult | MatmulDoesNotFit)[] = [];
  for (const s of shapes) {
    const operands: [string, number, number][] = [
      ["A", s.m, s.k],
      ["B", s.transB ? s.n : s.k, s.transB ? s.k : s.n],
      ["the product", s.m, s.n],
    ];
    // a transposed B (an output projection's weight) is read in pieces of rows, each within one binding
    const tooBig = operands.find(([what, r, c]) =>
      r * c * 4 > limits.maxStorageBufferBindingSize && !(what === "B" && s.transB)
    );
    if (tooBig) {
      const [what, r, c] = tooBig;
      const mib = (x: number) => (x / 2 ** 20).toFixed(1);
      out.push({
        ...s,
        doesNotFit: `${what} [${r}, ${c}] is ${mib(r * c * 4)} MiB; the adapter binds at most ${
          mib(limits.maxStorageBufferBindingSize)
        } MiB`,
      });
      continue;
    }
    const a = input("a", [s.m, s.k]);
    const b = input("b", s.transB ? [s.n, s.k] : [s.k, s.n]);
    const program = await Program.compile(device, [matmul(a, b, { transB: s.transB })]);
    program.write(a, Float32Array.from({ length: s.m * s.k }, (_, i) => Math.sin(i)));
    program.write(b, Float32Array.from({ length: s.k * s.n }, (_, i) => Math.cos(i)));
    const flop = 2 * s.m * s.k * s.n;
    const inner = Math.min(50, Math.max(1, Math.round(2e8 / flop)));
    const samples = flop > 1e9 ? 3 : 5;
    const times: number[] = [];
    for (let i = 0; i < 1 + samples; i++) {
      const t0 = performance.now();
      const encoder = device.createCommandEncoder();
      for (let j = 0; j < inner; j++) program.encode(encoder);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (i > 0) times.push((performance.now() - t0) / inner);
    }
    program.destroy();
    const ms = median(times);
    out.push({ ...s, inner, msMedian: ms, gflops: flop / (ms * 1e6) });
  }
  return out;
}

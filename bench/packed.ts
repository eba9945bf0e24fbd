/**
 * Packed adapters on the bench workload: K LoRA variants (each its own initial LoRA and head, batch and
 * learning rate) on the workload's frozen backbone in one packed step, against the same K variants as K
 * separate compiled steps run one after another. Throughput is samples a second over all variants; every
 * step (packed, or each separate one) reads its loss back, as the single-step bench does.
 */
import process from "node:process";
import "../src/graph/ops/mod.ts";
import { packBatches, PackedTrainStep } from "../src/compile/packed_step.ts";
import { packWeights } from "../src/compile/packing.ts";
import type { Batch, TrainStep } from "../src/compile/train_step.ts";
import { gpu } from "../src/gpu/device.ts";
import { buildModel } from "../src/models/graph.ts";
import { workloadConfig, workloadStep } from "./mixtune.ts";
import { makeInit, median, type PeerWorkload, WORKLOAD } from "./peers/workload.ts";

/** One K: packed and separate throughput, with the 1-minute load average before and after. */
export interface PackedResult {
  k: number;
  /** LoRA rank of each variant (the pack pads to the largest). */
  ranks: number[];
  stepMsMedian: number;
  samplesPerSecond: number;
  separateStepMsMedian: number;
  separateSamplesPerSecond: number;
  speedup: number;
  /** Process CPU ms (the adapter's threads run in this process): steadier than wall time on a shared machine. */
  cpuMsMedian: number;
  separateCpuMsMedian: number;
  /** Without a read back each step (as training runs between their metric reads): ms a step, both ways. */
  pipelinedMs: number;
  separatePipelinedMs: number;
  pipelinedSpeedup: number;
  memoryBytes: number;
  separateMemoryBytes: number;
  load: [number, number];
}

/** Variant k's values: the workload's backbone (seed 1), and LoRA, head, images and labels of seed 1 + k. */
function variantValues(w: PeerWorkload, k: number): { values: Map<string, Float32Array>; batch: Batch } {
  const base = makeInit(1, w);
  const own = makeInit(1 + k, w);
  const values = new Map<string, Float32Array>();
  for (const [name, v] of base.params) {
    const lora = name.endsWith("lora_A") || name.endsWith("lora_B");
    values.set(lora ? `${name}.weight` : name, lora || name === "head.weight" ? own.params.get(name)! : v);
  }
  const batch = {
    x: own.images,
    labels: Float32Array.from(own.labels),
    weights: new Float32Array(w.batch).fill(1),
    domains: new Float32Array(w.batch).fill(1),
  };
  return { values, batch };
}

export async function packedStep(w: PeerWorkload, ranks: number[]): Promise<PackedTrainStep> {
  const { device } = await gpu();
  const lora = (rank: number) =>
    Array.from(
      { length: w.depth },
      (_, i) => ({ path: `blocks.${i}.attn.qkv`, rank, scale: 1, gated: false }),
    );
  const build = {
    batch: w.batch,
    domains: 1,
    loss: { kind: "cosface" as const, scale: w.cosfaceS, margin: w.cosfaceM },
    trainable: (name: string) => name === "head.weight",
  };
  const model = buildModel(workloadConfig(w), { ...build, variants: ranks.map(lora) });
  const step = await PackedTrainStep.compile(device, model, { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  const variants = ranks.map((rank, k) => variantValues({ ...w, rank }, k));
  step.store.upload(packWeights(model, variants.map((v) => v.values)));
  step.feed(packBatches(variants.map((v) => v.batch)));
  return step;
}

/** Times K packed variants and the same K as separate steps. */
export async function packedThroughput(
  ks: readonly number[],
  opts: { warmup?: number; steps?: number; ranks?: (k: number) => number[]; w?: PeerWorkload } = {},
): Promise<PackedResult[]> {
  const w = opts.w ?? WORKLOAD;
  const warmup = opts.warmup ?? 2;
  const steps = opts.steps ?? 5;
  const out: PackedResult[] = [];
  for (const k of ks) {
    const load0 = Deno.loadavg()[0];
    const ranks = opts.ranks?.(k) ?? new Array<number>(k).fill(w.rank);
    const packed = await packedStep(w, ranks);
    const settings = ranks.map((_, i) => ({ lr: w.lr * (1 + i / 10), weightDecay: 0 }));
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      packed.run(settings);
      await packed.drainMetrics();
      if (i >= warmup) times.push(performance.now() - t0), cpu.push(cpuMs(c0));
    }
    const p0 = performance.now();
    for (let i = 0; i < steps; i++) packed.run(settings);
    await packed.drainMetrics();
    const pipelinedMs = (performance.now() - p0) / steps;
    const memoryBytes = packed.memory().total;
    packed.destroy();

    const separate: TrainStep[] = [];
    for (let i = 0; i < k; i++) separate.push(await workloadStep({ ...w, rank: ranks[i] }, 1));
    const rounds: number[] = [];
    const roundsCpu: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      for (const s of separate) {
        s.run(w.lr);
        await s.drainMetrics();
      }
      if (i >= warmup) rounds.push(performance.now() - t0), roundsCpu.push(cpuMs(c0));
    }
    const s0 = performance.now();
    for (let i = 0; i < steps; i++) for (const s of separate) s.run(w.lr);
    await Promise.all(separate.map((s) => s.drainMetrics()));
    const separatePipelinedMs = (performance.now() - s0) / steps;
    const separateMemoryBytes = separate.reduce((a, s) => a + s.memory().total, 0);
    for (const s of separate) s.destroy();
    const ms = median(times);
    const sepMs = median(rounds);
    out.push({
      k,
      ranks,
      stepMsMedian: ms,
      samplesPerSecond: (k * w.batch) / (ms / 1000),
      separateStepMsMedian: sepMs,
      separateSamplesPerSecond: (k * w.batch) / (sepMs / 1000),
      speedup: sepMs / ms,
      pipelinedMs,
      separatePipelinedMs,
      pipelinedSpeedup: separatePipelinedMs / pipelinedMs,
      cpuMsMedian: median(cpu),
      separateCpuMsMedian: median(roundsCpu),
      memoryBytes,
      separateMemoryBytes,
      load: [load0, Deno.loadavg()[0]],
    });
  }
  return out;
}

function cpuMs(since: { user: number; system: number }): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

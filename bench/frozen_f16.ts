/**
 * The workload's step with its frozen weights in f32 and in f16, both compiled in one process and timed in
 * alternating rounds (which goes first alternates too), so load changes fall on both alike.
 */
import process from "node:process";
/** The two sides compared. */
type FrozenDtype = "f32" | "f16";
import type { StepMemory, TrainStep } from "../src/compile/train_step.ts";
import { gpu } from "../src/gpu/device.ts";
import { workloadStep } from "./mixtune.ts";
import { median, type PeerStepResult, type PeerWorkload, WORKLOAD } from "./peers/workload.ts";

/** One side of the comparison, as a `step[]` entry of the bench's JSON. */
export type FrozenSide = PeerStepResult & {
  frozenDtype: FrozenDtype;
  /** Median process CPU time a step (lavapipe runs in this process): less sensitive to contention. */
  cpuMsMedian: number;
  memoryBytes: number;
  memory: StepMemory;
};

/** Both sides, the f16 / f32 ratios, and the 1-minute load average before and after. */
export interface FrozenComparison {
  f32: FrozenSide;
  f16: FrozenSide;
  /** f16 step ms median / f32 step ms median. */
  speedRatio: number;
  /** f16 CPU ms median / f32 CPU ms median. */
  cpuRatio: number;
  /** f16 planned bytes / f32 planned bytes. */
  memoryRatio: number;
  rounds: number;
  load: [number, number];
}

/** `rounds` rounds of `steps` steps each way, after `warmup` steps each; every step reads its loss back. */
export async function frozenComparison(
  opts: { rounds?: number; steps?: number; warmup?: number; workload?: PeerWorkload } = {},
): Promise<FrozenComparison> {
  const w = opts.workload ?? WORKLOAD;
  const rounds = opts.rounds ?? 6;
  const steps = opts.steps ?? 5;
  const warmup = opts.warmup ?? 3;
  const load0 = Deno.loadavg()[0];
  const sides = { f32: await workloadStep(w, 1, "f32"), f16: await workloadStep(w, 1, "f16") };
  const losses = { f32: [] as number[], f16: [] as number[] };
  const times = { f32: [] as number[], f16: [] as number[] };
  const cpu = { f32: [] as number[], f16: [] as number[] };
  const run = async (d: FrozenDtype, n: number, timed: boolean) => {
    for (let i = 0; i < n; i++) {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      sides[d].run(w.lr);
      losses[d].push((await sides[d].drainMetrics()).loss);
      if (timed) {
        times[d].push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        cpu[d].push((c.user + c.system) / 1000);
      }
    }
  };
  await run("f32", warmup, false);
  await run("f16", warmup, false);
  for (let r = 0; r < rounds; r++) {
    for (const d of r % 2 ? (["f16", "f32"] as const) : (["f32", "f16"] as const)) await run(d, steps, true);
  }
  const adapterInfo = (await gpu()).adapter.description;
  const side = (d: FrozenDtype, step: TrainStep): FrozenSide => {
    let total = 0;
    let trainable = 0;
    for (const p of step.model.params.values()) {
      total += p.size;
      if (p.trainable) trainable += p.size;
    }
    const memory = step.memory();
    return {
      backend: d === "f16" ? "mixtune-f16 (WebGPU)" : "mixtune (WebGPU)",
      adapterInfo,
      frozenDtype: d,
      stepMsMedian: median(times[d]),
      stepMsAll: times[d],
      cpuMsMedian: median(cpu[d]),
      steps: times[d].length,
      params: { total, trainable },
      losses: losses[d],
      memoryBytes: memory.total,
      memory,
    };
  };
  const f32 = side("f32", sides.f32);
  const f16 = side("f16", sides.f16);
  sides.f32.destroy();
  sides.f16.destroy();
  return {
    f32,
    f16,
    speedRatio: f16.stepMsMedian / f32.stepMsMedian,
    cpuRatio: f16.cpuMsMedian / f32.cpuMsMedian,
    memoryRatio: f16.memoryBytes / f32.memoryBytes,
    rounds,
    load: [load0, Deno.loadavg()[0]],
  };
}

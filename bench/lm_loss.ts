/**
 * A LoRA step of a small LM with GPT-2's vocabulary, its loss fused and chunked over the vocabulary against
 * the same step with whole [tokens, vocabulary] logits, compiled in one process and timed in alternating
 * rounds (which goes first alternates too), so load changes fall on both alike. Also the planned activations.
 *
 * `deno run -A bench/lm_loss.ts [--rounds N]` alone, or as part of `deno task bench`.
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { TrainStep } from "../src/compile/train_step.ts";
import { gpu } from "../src/gpu/device.ts";
import type { LmConfig } from "../src/models/config.ts";
import { buildModel } from "../src/models/graph.ts";
import { initParams } from "../src/models/params.ts";
import { median } from "./peers/workload.ts";

/** 2 blocks of 64 wide, 50,257 ids, batch 4 x 64 tokens = 256 tokens: whole logits are 51.5 MB. */
export const LM_LOSS_WORKLOAD = {
  config: { backbone: "lm", context: 64, dim: 64, depth: 2, heads: 4, mlpRatio: 4, vocab: 50257 } as LmConfig,
  batch: 4,
  rank: 8,
};

/** One side: step time (wall and process CPU), planned activations, losses. */
export interface LmLossSide {
  stepMsMedian: number;
  cpuMsMedian: number;
  activationBytes: number;
  losses: number[];
}

/** Both sides, the fused / whole ratios, and the 1-minute load average before and after. */
export interface LmLossComparison {
  fused: LmLossSide;
  whole: LmLossSide;
  speedRatio: number;
  activationRatio: number;
  rounds: number;
  load: [number, number];
}

async function compile(lossChunk: number | undefined): Promise<TrainStep> {
  const { device } = await gpu();
  const w = LM_LOSS_WORKLOAD;
  const model = buildModel(w.config, {
    batch: w.batch,
    domains: 1,
    loss: { kind: "lm" },
    lora: Array.from({ length: w.config.depth }, (_, i) => ({
      path: `blocks.${i}.attn.qkv`,
      rank: w.rank,
      scale: 1,
      gated: false,
    })),
    lossChunk,
  });
  const step = await TrainStep.compile(device, model, {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
  });
  const values = initParams(w.config, 1);
  for (const [name, p] of model.params) {
    if (!values.has(name)) {
      values.set(name, new Float32Array(p.size).fill(name.includes("lora_A") ? 0.01 : 0));
    }
  }
  step.store.upload(values);
  const T = w.config.context;
  const ids = Float32Array.from({ length: w.batch * (T + 1) }, (_, i) => (i * 7919) % 50257);
  const x = new Float32Array(w.batch * T);
  const labels = new Float32Array(w.batch * T);
  for (let b = 0; b < w.batch; b++) {
    x.set(ids.subarray(b * (T + 1), b * (T + 1) + T), b * T);
    labels.set(ids.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
  }
  step.feed({
    x,
    labels,
    weights: new Float32Array(w.batch).fill(1),
    domains: new Float32Array(w.batch).fill(1),
  });
  return step;
}

/** `rounds` rounds of `steps` steps each way, after `warmup` steps each; every step reads its loss back. */
export async function lmLossComparison(
  opts: { rounds?: number; steps?: number; warmup?: number } = {},
): Promise<LmLossComparison> {
  const { rounds = 4, steps = 3, warmup = 2 } = opts;
  const load0 = Deno.loadavg()[0];
  const sides = { fused: await compile(undefined), whole: await compile(0) };
  const losses = { fused: [] as number[], whole: [] as number[] };
  const times = { fused: [] as number[], whole: [] as number[] };
  const cpu = { fused: [] as number[], whole: [] as number[] };
  const run = async (k: "fused" | "whole", n: number, timed: boolean) => {
    for (let i = 0; i < n; i++) {
      const [t0, c0] = [performance.now(), process.cpuUsage()];
      sides[k].run(1e-3);
      losses[k].push((await sides[k].drainMetrics()).loss);
      if (!timed) continue;
      times[k].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[k].push((c.user + c.system) / 1000);
    }
  };
  await run("fused", warmup, false);
  await run("whole", warmup, false);
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? (["whole", "fused"] as const) : (["fused", "whole"] as const)) {
      await run(k, steps, true);
    }
  }
  const side = (k: "fused" | "whole"): LmLossSide => ({
    stepMsMedian: median(times[k]),
    cpuMsMedian: median(cpu[k]),
    activationBytes: sides[k].memory().activations,
    losses: losses[k],
  });
  const fused = side("fused");
  const whole = side("whole");
  sides.fused.destroy();
  sides.whole.destroy();
  return {
    fused,
    whole,
    speedRatio: fused.stepMsMedian / whole.stepMsMedian,
    activationRatio: fused.activationBytes / whole.activationBytes,
    rounds,
    load: [load0, Deno.loadavg()[0]],
  };
}

/** The comparison as the bench prints it. */
export function formatLmLoss(c: LmLossComparison): string {
  const w = LM_LOSS_WORKLOAD;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
  const row = (name: string, s: LmLossSide) =>
    `${name.padEnd(22)} ${s.stepMsMedian.toFixed(1).padStart(9)} ${s.cpuMsMedian.toFixed(1).padStart(9)}   ${
      mib(s.activationBytes).padStart(11)
    }   ${s.losses[0].toFixed(5)} -> ${s.losses.at(-1)!.toFixed(5)}`;
  return [
    `LM loss: LoRA step, ${w.config.depth} blocks of ${w.config.dim}, vocabulary ${w.config.vocab}, ` +
    `batch ${w.batch} x ${w.config.context} tokens, ${c.rounds} alternating rounds`,
    "loss                   median ms   CPU ms   activations   loss first -> last",
    row("fused, chunked", c.fused),
    row("whole logits", c.whole),
    `fused / whole: time ${c.speedRatio.toFixed(2)}x, activations ${c.activationRatio.toFixed(3)}x; ` +
    `load average ${c.load.map((x) => x.toFixed(2)).join(" -> ")}`,
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { rounds: { type: "string", default: "4" } } });
  console.log(formatLmLoss(await lmLossComparison({ rounds: Number(values.rounds) })));
}

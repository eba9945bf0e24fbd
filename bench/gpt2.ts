/**
 * The bench's real-shape workloads: a LoRA step on a GPT-2 checkpoint, through the library's own path for
 * pretrained models (a checkpoint folder in the Hugging Face layout, `pretrained()` in a pipeline, the plan,
 * the stage's model and `TrainStep`). The bench writes the checkpoint (random weights, seeded) and the start
 * file the PyTorch peer reads (batch and LoRA initial values), so both sides start from the same numbers.
 */
import { adamw, lmLoss, lora, pipeline, planPipeline, pretrained, temperature, text, train } from "../mod.ts";
import { writeSafetensors } from "../src/adapters/safetensors.ts";
import { initAdapters } from "../src/adapters/init.ts";
import { DomainCache } from "../src/compile/domains.ts";
import { stageModel } from "../src/compile/stage_model.ts";
import { type StepMemory, TrainStep } from "../src/compile/train_step.ts";
import { gpu } from "../src/gpu/device.ts";
import { buildModel, loraNames } from "../src/models/graph.ts";
import { initParams } from "../src/models/params.ts";
import { parseArch } from "../src/models/pretrained/arch.ts";
import { checkpointTensors } from "../src/models/pretrained/tensors.ts";
import { normalArray, seedFor } from "../src/models/init.ts";
import { PipelineError } from "../src/spec/problem.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import type { MatmulShape } from "./peers/tfjs_step.ts";
import { median, SeededRng } from "./peers/workload.ts";

/** A GPT-2 LoRA workload: the checkpoint's sizes, the batch and the adapter. */
export interface LmWorkload {
  /** Short name for tables, e.g. "GPT-2 6x384 (30M)". */
  name: string;
  /** GPT-2 config.json sizes. */
  layers: number;
  width: number;
  heads: number;
  vocab: number;
  positions: number;
  batch: number;
  /** Tokens per example. */
  context: number;
  /** LoRA rank on every `transformer.h.*.attn.c_attn` (scale 1). */
  rank: number;
  lr: number;
  /** Seeds the checkpoint's weights, the LoRA initial values and the batch. */
  seed: number;
  /** Standard deviation of the checkpoint's weights; default 0.02 (GPT-2's initialisation). */
  initStd?: number;
}

/** GPT-2 with 6 blocks of width 384 (6 heads), GPT-2's vocabulary and positions: 30.3M weights. */
export const GPT2_30M: LmWorkload = {
  name: "GPT-2 6x384 (30M)",
  layers: 6,
  width: 384,
  heads: 6,
  vocab: 50257,
  positions: 1024,
  batch: 2,
  context: 128,
  rank: 8,
  lr: 1e-3,
  seed: 1,
};

/** GPT-2 small's sizes (124M weights) at batch 4 x 256 tokens. */
export const GPT2_SMALL: LmWorkload = {
  name: "GPT-2 small (124M)",
  layers: 12,
  width: 768,
  heads: 12,
  vocab: 50257,
  positions: 1024,
  batch: 4,
  context: 256,
  rank: 8,
  lr: 1e-3,
  seed: 1,
};

/** Where the bench keeps its checkpoints (ignored by git and by deno's checks). */
export const BENCH_CACHE = new URL("../.cache/bench/", import.meta.url).pathname;

/** The files of one workload: checkpoint folder, the start file for the peer, the domain's text folder. */
export interface LmFiles {
  checkpoint: string;
  start: string;
  text: string;
}

/** The workload's config.json. */
export function gpt2Config(w: LmWorkload): Record<string, unknown> {
  return {
    model_type: "gpt2",
    architectures: ["GPT2LMHeadModel"],
    vocab_size: w.vocab,
    n_positions: w.positions,
    n_embd: w.width,
    n_layer: w.layers,
    n_head: w.heads,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
  };
}

/**
 * Writes the checkpoint (every tensor N(0, initStd^2) from its own seed, layer norm weights 1 + N(0, 0.02^2)) unless
 * an identical one is there already, and the text folder of the pipeline's domain (never read by the step).
 */
export async function writeLmFiles(w: LmWorkload, root = BENCH_CACHE): Promise<LmFiles> {
  const config = gpt2Config(w);
  const std = w.initStd ?? 0.02;
  const key = `gpt2-${w.layers}x${w.width}-v${w.vocab}-p${w.positions}-s${w.seed}${
    std === 0.02 ? "" : `-std${std}`
  }`;
  const files = {
    checkpoint: `${root}${key}`,
    start: `${root}${key}-b${w.batch}x${w.context}-r${w.rank}.start.safetensors`,
    text: `${root}text`,
  };
  await Deno.mkdir(files.checkpoint, { recursive: true });
  const configText = JSON.stringify(config, null, 2);
  const arch = parseArch(config, "config.json");
  const tensors = checkpointTensors(arch);
  const bytes = tensors.reduce((a, t) => a + 4 * t.shape.reduce((x, y) => x * y, 1), 0);
  const done = await Deno.readTextFile(`${files.checkpoint}/config.json`).catch(() => "") === configText &&
    await Deno.stat(`${files.checkpoint}/model.safetensors`).then((s) => s.size > bytes, () => false);
  if (!done) {
    const values = Object.fromEntries(tensors.map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const data = normalArray(n, std, seedFor(w.seed, t.name));
      if (/ln_\d\.weight$|ln_f\.weight$/.test(t.name)) data.forEach((v, i) => data[i] = 1 + v / std * 0.02);
      return [t.name, { shape: t.shape, data }];
    }));
    await Deno.writeFile(`${files.checkpoint}/model.safetensors`, writeSafetensors(values));
    await Deno.writeTextFile(`${files.checkpoint}/config.json`, configText);
  }
  const lines = Array.from({ length: 64 }, (_, i) => `line ${i}: ` + "the quick brown fox ".repeat(12));
  await Deno.mkdir(files.text, { recursive: true });
  await Deno.writeTextFile(`${files.text}/text.txt`, lines.join("\n") + "\n");
  return files;
}

/** The pipeline the workload is: the checkpoint with LoRA on c_attn, the LM loss, AdamW without decay. */
export function lmSpec(w: LmWorkload, files: LmFiles): PipelineSpec {
  return pipeline("bench-gpt2")
    .seed(w.seed)
    .domain("text", text(files.text))
    .model(pretrained(files.checkpoint, { context: w.context }))
    .stage(
      "tune",
      train({
        mix: temperature(["text"]),
        adapters: [lora("transformer.h.*.attn.c_attn", { rank: w.rank })],
        loss: lmLoss(),
        optimizer: adamw({ lr: w.lr, weightDecay: 0 }),
        steps: 10,
        batch: w.batch,
      }),
    )
    .build();
}

/** The fixed batch: B x (T + 1) token ids uniform over the vocabulary; x the first T, labels the last T. */
export function lmBatch(w: LmWorkload): { x: Float32Array; labels: Float32Array } {
  const rng = new SeededRng(w.seed + 1000);
  const { batch: B, context: T } = w;
  const x = new Float32Array(B * T);
  const labels = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const ids = Array.from({ length: T + 1 }, () => Math.floor(rng.uniform() * w.vocab));
    x.set(ids.slice(0, T), b * T);
    labels.set(ids.slice(1), b * T);
  }
  return { x, labels };
}

/** What the plan says of the workload: its planned memory and parameters, or why the step cannot run. */
export type LmPlan =
  | { fits: true; memory: StepMemory; params: { total: number; trainable: number }; kernels: number }
  | { fits: false; reason: string };

/** The start values both sides use: the LoRA tensors (mixtune's initialisation) and the batch. */
export function lmStart(
  w: LmWorkload,
  spec: PipelineSpec,
): Map<string, { shape: number[]; data: Float32Array }> {
  const stage = spec.stages.tune as TrainStage;
  const { placements } = stageModel(spec, "tune", stage, new DomainCache(spec));
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  initAdapters(placements, spec.seed).forEach((a, i) => {
    const p = placements[i];
    const n = loraNames(p.path);
    out.set(n.A, { shape: [p.rank, p.in], data: a.branches[0].a });
    out.set(n.B, { shape: [p.out, p.rank], data: a.branches[0].b });
  });
  const { x, labels } = lmBatch(w);
  out.set("x", { shape: [w.batch, w.context], data: x });
  out.set("labels", { shape: [w.batch, w.context], data: labels });
  return out;
}

/** Writes the start file the PyTorch peer reads; the LoRA scale goes into its metadata. */
export async function writeLmStart(w: LmWorkload, spec: PipelineSpec, path: string): Promise<void> {
  const stage = spec.stages.tune as TrainStage;
  const scales = new Set(
    stageModel(spec, "tune", stage, new DomainCache(spec)).placements.map((p) => p.scale),
  );
  if (scales.size !== 1) {
    throw new Error(`${w.name}: expected one LoRA scale, found ${[...scales].join(", ")}`);
  }
  const tensors = Object.fromEntries(lmStart(w, spec));
  await Deno.writeFile(path, writeSafetensors(tensors, { scale: String([...scales][0]) }));
}

/** Plans the pipeline; a step the adapter cannot hold gives the plan's own message as the reason. */
export async function lmPlan(spec: PipelineSpec): Promise<LmPlan> {
  try {
    const plan = await planPipeline(spec);
    const s = plan.stages.find((x) => x.name === "tune")!;
    return {
      fits: true,
      memory: s.memory!,
      params: { total: s.params!.total, trainable: s.params!.trainable },
      kernels: s.kernels!.length,
    };
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    return { fits: false, reason: e.problems.map((p) => `${p.path}: ${p.message}`).join("; ") };
  }
}

/** mixtune's figures for one workload. */
export interface LmStepResult {
  backend: string;
  stepMsMedian: number;
  stepMsAll: number[];
  tokensPerSecond: number;
  losses: number[];
  params: { total: number; trainable: number };
  /** Planned GPU memory of the step (the plan's figure, equal to the compiled step's). */
  memory: StepMemory;
  dispatches: number;
  /** Compiling the step (pipelines included) and loading the weights. */
  setupMs: number;
}

/** Compiles the workload's step as a train stage does (`keepLogits` overriding the stage's rule) and loads the checkpoint's values, the start values and the batch. */
export async function compileLmStep(
  w: LmWorkload,
  spec: PipelineSpec,
  options: { keepLogits?: boolean } = {},
): Promise<TrainStep> {
  const { device } = await gpu();
  const stage = spec.stages.tune as TrainStage;
  const sm = stageModel(spec, "tune", stage, new DomainCache(spec));
  const graph = buildModel(spec.model, { ...sm.build(stage.batch, 1, true), ...options });
  const step = await TrainStep.compile(device, graph, {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    seed: spec.seed,
    frozenDtype: "f32",
  });
  try {
    const values = initParams(spec.model, spec.seed);
    const start = lmStart(w, spec);
    for (const [name, t] of start) if (name !== "x" && name !== "labels") values.set(name, t.data);
    step.store.upload(values);
    step.feed({
      x: start.get("x")!.data,
      labels: start.get("labels")!.data,
      weights: new Float32Array(w.batch).fill(1),
      domains: new Float32Array(w.batch).fill(1),
    });
    return step;
  } catch (e) {
    step.destroy();
    throw e;
  }
}

/**
 * Times `steps` steps of the compiled workload after `warmup`, each read back (loss and the non-finite
 * flags: a NaN fails the bench).
 */
export async function mixtuneLmStep(
  w: LmWorkload,
  spec: PipelineSpec,
  opts: { warmup: number; steps: number },
): Promise<LmStepResult> {
  const t0 = performance.now();
  const step = await compileLmStep(w, spec);
  try {
    const setupMs = performance.now() - t0;
    const losses: number[] = [];
    const times: number[] = [];
    for (let i = 0; i < opts.warmup + opts.steps; i++) {
      const s0 = performance.now();
      step.run(w.lr);
      const m = await step.drainMetrics();
      if (m.nanStep > 0 || m.weightStep > 0 || !Number.isFinite(m.loss)) {
        throw new Error(
          `${w.name}: mixtune's step ${i + 1} gave a non-finite loss or weights (loss ${m.loss})`,
        );
      }
      losses.push(m.loss);
      if (i >= opts.warmup) times.push(performance.now() - s0);
    }
    let total = 0;
    let trainable = 0;
    for (const p of step.model.params.values()) {
      total += p.size;
      if (p.trainable) trainable += p.size;
    }
    const ms = median(times);
    return {
      backend: "mixtune (WebGPU)",
      stepMsMedian: ms,
      stepMsAll: times,
      tokensPerSecond: (w.batch * w.context) / (ms / 1000),
      losses,
      params: { total, trainable },
      memory: step.memory(),
      dispatches: step.kernels().length,
      setupMs,
    };
  } finally {
    step.destroy();
  }
}

/**
 * The products these models run (256 tokens; weights in mixtune's [out, in] layout, so the forward reads B
 * transposed and the input gradient reads it as stored). The output projection's weight (the tied wte) is
 * frozen, so no weight gradient is computed for it; LoRA's rank-8 products are left out (small).
 */
export const LM_MATMUL_SHAPES: (MatmulShape & { what: string })[] = [
  { m: 256, k: 384, n: 50257, transB: true, what: "output projection, 6x384 (its step runs 2x128 tokens)" },
  { m: 256, k: 50257, n: 384, what: "its input gradient" },
  { m: 256, k: 768, n: 50257, transB: true, what: "output projection at GPT-2 small's width" },
  { m: 256, k: 50257, n: 768, what: "its input gradient" },
  { m: 256, k: 768, n: 3072, transB: true, what: "MLP c_fc at GPT-2 small's width" },
  { m: 256, k: 3072, n: 768, what: "c_fc's input gradient (c_proj's forward is this size too)" },
];

/**
 * The plan of a pipeline (`--plan`): the stage graph in run order and, per training stage, where adapters
 * go, parameter counts, planned GPU memory, the step's kernels, and the data mix over the schedule.
 * Computed without a device.
 */
import { domainSizes, type PackingMode, type PackingStats, Sampler, textWindows } from "../data/mod.ts";
import { isCausal, tokens } from "../models/config.ts";
import { buildModel } from "../models/graph.ts";
import { checkPretrained } from "../models/pretrained/checkpoint.ts";
import { pretrainedParams } from "../models/pretrained/graph.ts";
import { hashSpec, stageHash, stageOrder } from "../spec/hash.ts";
import type { EvaluateStage, ExportStage, PipelineSpec, TrainStage } from "../spec/types.ts";
import { VERSION } from "../version.ts";
import { checkDomainTokenizers, DomainCache, type DomainLoadOptions, imageInputSide } from "./domains.ts";
import type { VitArch } from "../models/pretrained/arch.ts";
import { mixStrategy, stageFrozen, stageParamCounts } from "./stage_setup.ts";
import { stageModel } from "./stage_model.ts";
import { planStep, type StepMemory, type StepShape } from "./train_step.ts";
import { checkProbabilities, checkStepLimits, overLimit, planProblem } from "./_plan_limits.ts";
import { PipelineError } from "../spec/problem.ts";
import { type PlanLimits, WEBGPU_DEFAULT_LIMITS } from "./limits.ts";
import { fitBatch, type ForwardMemory } from "./forward_plan.ts";
import { halfWeights } from "./half_weights.ts";

/** The most examples an evaluate stage runs at once; fewer when the limits call for it. */
export const EVALUATE_BATCH = 128;
/** Images an export stage runs at once to check the ONNX file against WebGPU. */
export const EXPORT_BATCH = 32;

/** The plan of one stage. */
export interface StagePlan {
  /** The stage's name. */
  name: string;
  /** `train`, `evaluate` or `export`. */
  kind: string;
  /** The first 8 hex digits of the stage's hash (its folder is `<name>-<hash>`). */
  hash: string;
  /** The stages this one starts from. */
  dependsOn: string[];
  /** Parameter counts: all, trained, and the trained share. */
  params?: { total: number; trainable: number; share: number };
  /** Each adapter pattern with the modules it matched and the parameters it adds. */
  adapters?: {
    pattern: string;
    rank: number;
    scale: number;
    gated: boolean;
    modules: string[];
    params: number;
  }[];
  /** Planned GPU memory of one training step (train) or of the forward pass (evaluate, export), in bytes. */
  memoryBytes?: number;
  /** A train stage's step memory by what it holds. */
  memory?: StepMemory;
  /**
   * A train stage with `accumulate` > 1: its micro-batches, their examples, and the step's memory without
   * accumulation (the whole batch at once), with why that would not fit the limits; `unaccumulated` is absent
   * when no kernel could take the whole batch.
   */
  accumulation?: { microBatches: number; microBatch: number; unaccumulated?: StepMemory; overLimit?: string };
  /** A train stage with `recompute`: the step's memory and dispatches with every activation kept instead. */
  recomputation?: { kept: StepMemory; keptDispatches: number };
  /**
   * An evaluate or export stage's forward pass: its batch and memory by what it holds; `most`, the batch an
   * evaluate stage is fitted within (128, or its largest domain's validation examples).
   */
  forward?: { batch: number; memory: ForwardMemory; most?: number };
  /** The kernels of one step, in dispatch order. */
  kernels?: string[];
  /** The quality scores' normalisation range (quality-gated adapters). */
  qualityScale?: { low: number; high: number };
  /** The data mix: domain sizes and expected epochs, and the probabilities over the schedule. */
  sampling?: {
    domains: {
      name: string;
      size: number;
      expectedEpochs: number;
      /** Supervised examples: examples, trained (response) tokens and packing efficiency of the training split. */
      packing?: PackingStats;
      /** Supervised examples: how they are laid into windows. */
      packingMode?: PackingMode;
    }[];
    schedule: { step: number; temperature: number | null; probabilities: Record<string, number> }[];
  };
}

/** A pretrained model's checkpoint as the plan reports it (headers only; no weights are read). */
export interface CheckpointPlan {
  /** The checkpoint folder. */
  dir: string;
  /** Its config.json's `model_type` (gpt2, llama, mistral, qwen2). */
  modelType: string;
  /** Weights in the checkpoint, all loaded as float32. */
  weights: number;
  /** Weights by their dtype on disk. */
  stored: Record<string, number>;
  /** Checkpoint modules the pipeline does not use, and why (a ViT's `classifier`). */
  unused?: string[];
  /** How a ViT's images reach the patch embedding: the resize and preprocessor_config.json's normalisation. */
  images?: string;
}

/** The whole plan. */
export interface PipelinePlan {
  /** The pipeline's name. */
  name: string;
  /** The hash of the whole spec. */
  hash: string;
  /** The mixtune version that planned it. */
  version: string;
  /** The device limits every stage was planned against. */
  limits: PlanLimits;
  /** Present for a pretrained model. */
  checkpoint?: CheckpointPlan;
  /** Every stage, in run order. */
  stages: StagePlan[];
}

/** How `planPipeline` plans: the device limits (default WebGPU's) and where corpora are tokenized. */
export interface PlanOptions extends DomainLoadOptions {
  /** The limits every stage is planned against (default `WEBGPU_DEFAULT_LIMITS`). */
  limits?: PlanLimits;
}

/**
 * Plans every stage. Loads the data (to size the domains) but runs nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamw, cosface, lora, mnist, pipeline, planPipeline, split, take, temperature, train, vit } from "../../mod.ts";
 * const spec = pipeline("plan").seed(0)
 *   .domain("d", mnist([0, 1]), take(100), split(0.2))
 *   .model(vit({ image: 28, patch: 7, dim: 16, depth: 1, heads: 2, mlpRatio: 2, embedDim: 8, classes: 2 }))
 *   .stage("pre", train({ mix: temperature(["d"]), loss: cosface(), optimizer: adamw({ lr: 1e-3 }), steps: 10, batch: 8 }))
 *   .stage("ft", train({
 *     from: "pre",
 *     mix: temperature(["d"]),
 *     adapters: [lora("blocks.*.attn.qkv", { rank: 2 })],
 *     loss: cosface(),
 *     optimizer: adamw({ lr: 1e-3 }),
 *     steps: 10,
 *     batch: 8,
 *   }))
 *   .build();
 * const plan = await planPipeline(spec);
 * assert.deepEqual(plan.stages.map((s) => s.name), ["pre", "ft"]);
 * assert.deepEqual(plan.stages[1].adapters?.[0].modules, ["blocks.0.attn.qkv"]);
 * assert.deepEqual(plan.stages[0].sampling?.domains.map((d) => d.size), [80]); // 100 images, 20% held out
 * ```
 */
export async function planPipeline(
  spec: PipelineSpec,
  options: PlanOptions = {},
): Promise<PipelinePlan> {
  const limits = options.limits ?? WEBGPU_DEFAULT_LIMITS;
  checkDomainTokenizers(spec);
  const domains = new DomainCache(spec, options);
  const stages: StagePlan[] = [];
  for (const step of stageOrder(spec)) {
    const stage = spec.stages[step.name];
    const base: StagePlan = {
      name: step.name,
      kind: stage.kind,
      hash: (await stageHash(spec, step.name, VERSION)).slice(0, 8),
      dependsOn: step.dependsOn,
    };
    if (stage.kind === "train") {
      await domains.load(stage.mix.domains);
      stages.push({ ...base, ...planTrain(spec, step.name, stage, domains, limits) });
    } else {
      if (stage.kind === "evaluate") await domains.load(evaluatedDomains(spec, stage));
      const forward = planForwardStage(spec, step.name, stage, domains, limits);
      stages.push(forward ? { ...base, memoryBytes: forward.memory.total, forward } : base);
    }
  }
  const checkpoint = spec.model.backbone === "pretrained"
    ? checkpointPlan(spec.model.pretrained, imageInputSide(spec))
    : undefined;
  return { name: spec.name, hash: await hashSpec(spec), version: VERSION, limits, checkpoint, stages };
}

/** The domains an evaluate stage reads: its own list, or every domain of the pipeline. */
export function evaluatedDomains(spec: PipelineSpec, stage: EvaluateStage): string[] {
  return stage.domains ?? Object.keys(spec.domains);
}

/**
 * Validation examples of the largest evaluated domain (text: windows of the context), for `load`ed domains:
 * no forward pass needs to hold more rows than that (padding rows cost as much as real ones).
 */
function validationRows(spec: PipelineSpec, stage: EvaluateStage, cache: DomainCache): number {
  const context = isCausal(spec.model) ? tokens(spec.model) : 0;
  return Math.max(
    1,
    ...evaluatedDomains(spec, stage).map((name) => {
      const d = cache.get(name);
      return d.kind === "text" ? textWindows(d.validation.length, context) : d.validation.labels.length;
    }),
  );
}

/**
 * An evaluate stage's batch (the largest that fits `limits`, up to EVALUATE_BATCH and to the validation
 * examples of its largest domain, which `cache` must hold) or an export stage's (EXPORT_BATCH, checked),
 * with the memory of its forward pass; undefined for an export of a model without an embedding (the stage
 * fails with its own message).
 */
export function planForwardStage(
  spec: PipelineSpec,
  name: string,
  stage: EvaluateStage | ExportStage,
  cache: DomainCache,
  limits: PlanLimits,
): { batch: number; memory: ForwardMemory; most?: number } | undefined {
  const train = spec.stages[stage.from] as TrainStage;
  const sm = stageModel(spec, stage.from, train, cache);
  const exporting = stage.kind === "export";
  // an evaluate stage keeps the frozen weights as its train stage does (frozenDtype); an export stage's are f32
  const frozen = exporting ? undefined : stageFrozen(train, spec.model);
  const at = (batch: number) => {
    const model = buildModel(spec.model, sm.build(batch, 1));
    const outputs = exporting
      ? [model.embedding].filter((n) => n !== undefined)
      : [model.perExample, ...(model.embedding ? [model.embedding] : [])];
    const half = frozen && halfWeights(outputs, frozen.frozenDtype, frozen.stored);
    return { model, outputs, half };
  };
  if (exporting && at(1).outputs.length === 0) return undefined;
  const what = `stage ${name} (${stage.kind})`;
  if (exporting) return fitBatch(what, EXPORT_BATCH, limits, at, true);
  const most = Math.min(EVALUATE_BATCH, validationRows(spec, stage as EvaluateStage, cache));
  return { ...fitBatch(what, most, limits, at), most };
}

function planTrain(
  spec: PipelineSpec,
  name: string,
  stage: TrainStage,
  cache: DomainCache,
  limits: PlanLimits,
): Partial<StagePlan> {
  const sm = stageModel(spec, name, stage, cache);
  const names = stage.mix.domains;
  const accumulate = stage.accumulate ?? 1;
  const frozen = stageFrozen(stage, spec.model);
  const stepAt = (batch: number, shape: StepShape) => {
    const graph = buildModel(spec.model, sm.build(batch, names.length, true));
    return {
      graph,
      ...planStep(
        graph,
        stage.optimizer.clip ?? 0,
        frozen.frozenDtype,
        shape,
        frozen.stored,
        limits.textureOperands ?? false,
      ),
    };
  };
  let step;
  try {
    step = stepAt(stage.batch / accumulate, { accumulate, recompute: stage.recompute });
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    // a shape no kernel can take (a matmul too wide to dispatch): the model's size is what to change
    throw planProblem("model.dim", `the step cannot be compiled: ${(e as Error).message.split("\n")[0]}`);
  }
  checkStepLimits(name, step.extremes, limits);
  const { memory, kernels, graph } = step;
  let accumulation: StagePlan["accumulation"];
  if (accumulate > 1) {
    let plain;
    try {
      plain = stepAt(stage.batch, { recompute: stage.recompute });
    } catch {
      // the whole batch is past what a kernel can take; the plan says so by leaving it out
    }
    const over = plain && overLimit(plain.extremes, limits);
    accumulation = {
      microBatches: accumulate,
      microBatch: stage.batch / accumulate,
      ...(plain ? { unaccumulated: plain.memory } : {}),
      ...(over ? { overLimit: over.text } : {}),
    };
  }
  // the same micro-batch with every activation kept from the forward pass to the backward
  const kept = stage.recompute ? stepAt(stage.batch / accumulate, { accumulate }) : undefined;
  const recomputation = kept && { kept: kept.memory, keptDispatches: kept.kernels.length };
  const trainable = new Set([...graph.params.values()].filter((p) => p.trainable).map((p) => p.name));
  const counts = stageParamCounts(spec.model, sm.placements, trainable);
  const adapters = (stage.adapters ?? []).map((a, i) => {
    const mine = sm.placements.filter((p) => p.adapter === i);
    return {
      pattern: ([] as string[]).concat(a.targets).join(", "),
      rank: a.rank,
      scale: mine[0]?.scale ?? 1,
      gated: a.gated ?? false,
      modules: mine.map((p) => p.path),
      params: mine.reduce((s, p) => s + p.rank * (p.in + p.out) * (p.gated ? 2 : 1), 0),
    };
  });
  const context = isCausal(spec.model) ? tokens(spec.model) : undefined;
  const sizes = domainSizes(cache.all(names), context);
  const sampler = new Sampler({
    sizes,
    strategy: mixStrategy(stage.mix, stage.steps, stage.batch),
    steps: stage.steps,
    seed: spec.seed,
  });
  const epochs = sampler.expectedEpochs(stage.steps, stage.batch);
  return {
    params: { total: counts.total, trainable: counts.trainable, share: counts.trainable / counts.total },
    adapters,
    memoryBytes: memory.total,
    memory,
    ...(accumulation ? { accumulation } : {}),
    ...(recomputation ? { recomputation } : {}),
    kernels,
    qualityScale: sm.gate?.scale,
    sampling: {
      domains: names.map((d, i) => {
        const domain = cache.get(d);
        const packing = domain.kind === "text" ? domain.packing?.train : undefined;
        const packingMode = domain.kind === "text" ? domain.packing?.mode : undefined;
        return {
          name: d,
          size: sizes[i],
          expectedEpochs: epochs[i],
          ...(packing ? { packing } : {}),
          ...(packingMode ? { packingMode } : {}),
        };
      }),
      schedule: scheduleSteps(stage).map((s) => {
        const p = sampler.probabilitiesAt(s);
        checkProbabilities(name, s, p);
        return {
          step: s,
          temperature: sampler.temperatureAt(s),
          probabilities: Object.fromEntries(names.map((d, i) => [d, p[i]])),
        };
      }),
    },
  };
}

function checkpointPlan(dir: string, side: number): CheckpointPlan {
  const { arch, config, dtypes } = checkPretrained(dir);
  const stored: Record<string, number> = {};
  let weights = 0;
  for (const p of pretrainedParams(arch)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    weights += n;
    const d = dtypes.get(p.name)!;
    stored[d] = (stored[d] ?? 0) + n;
  }
  const unused = arch.family === "vit" && arch.labels > 0
    ? [`classifier (${arch.labels} classes): the pipeline's cosine head replaces it`]
    : undefined;
  const images = arch.family === "vit" ? imagesLine(arch, side) : undefined;
  return {
    dir,
    modelType: String(config.model_type),
    weights,
    stored,
    ...(unused ? { unused } : {}),
    ...(images ? { images } : {}),
  };
}

/** What the graph does to the domain's pixels before the patch embedding. */
function imagesLine(arch: VitArch, side: number): string {
  const pre = arch.preprocess;
  const resize = side === arch.image
    ? `${side} px as read`
    : `${side} px resized to ${arch.image} (bilinear, preprocessor_config.json do_resize)`;
  const norm = pre
    ? `pixel p read as (255 p * ${
      pre.rescale.toPrecision(6)
    } - mean) / std per channel, mean [${pre.mean}], std [${pre.std}] (preprocessor_config.json)`
    : "pixels as the domain gives them, no normalisation (no preprocessor_config.json)";
  return `${resize}; ${norm}; replicated over ${arch.channels} channels`;
}

/** Start, every schedule change, and the last step. */
function scheduleSteps(stage: TrainStage): number[] {
  const steps = stage.steps;
  const out = new Set<number>([0]);
  const t = stage.mix.temperature;
  if (t && typeof t !== "number") {
    if (t.kind === "step") {
      for (const p of t.phases) out.add(Math.min(steps - 1, Math.round(p.until * steps)));
    }
    if (t.kind === "linear" || t.kind === "cosine") out.add(Math.floor((steps - 1) / 2));
  }
  out.add(steps - 1);
  return [...out].sort((a, b) => a - b);
}

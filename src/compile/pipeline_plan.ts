/**
 * The plan of a pipeline (`--plan`): the stage graph in run order and, per training stage, where adapters
 * go, parameter counts, planned GPU memory, the step's kernels, and the data mix over the schedule.
 * Computed without a device.
 */
import { domainSizes, Sampler } from "../data/mod.ts";
import { tokens } from "../models/config.ts";
import { buildModel } from "../models/graph.ts";
import { hashSpec, stageHash, stageOrder } from "../spec/hash.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { VERSION } from "../version.ts";
import { DomainCache } from "./domains.ts";
import { mixStrategy, stageParamCounts } from "./stage_setup.ts";
import { stageModel } from "./stage_model.ts";
import { planStep, type StepMemory } from "./train_step.ts";

/** The plan of one stage. */
export interface StagePlan {
  name: string;
  kind: string;
  hash: string;
  dependsOn: string[];
  params?: { total: number; trainable: number; share: number };
  adapters?: {
    pattern: string;
    rank: number;
    scale: number;
    gated: boolean;
    modules: string[];
    params: number;
  }[];
  memoryBytes?: number;
  memory?: StepMemory;
  kernels?: string[];
  qualityScale?: { low: number; high: number };
  sampling?: {
    domains: { name: string; size: number; expectedEpochs: number }[];
    schedule: { step: number; temperature: number | null; probabilities: Record<string, number> }[];
  };
}

/** The whole plan. */
export interface PipelinePlan {
  name: string;
  hash: string;
  version: string;
  stages: StagePlan[];
}

/** Plans every stage. Loads the data (to size the domains) but runs nothing. */
export async function planPipeline(spec: PipelineSpec): Promise<PipelinePlan> {
  const domains = new DomainCache(spec);
  const stages: StagePlan[] = [];
  for (const step of stageOrder(spec)) {
    const stage = spec.stages[step.name];
    const base: StagePlan = {
      name: step.name,
      kind: stage.kind,
      hash: (await stageHash(spec, step.name, VERSION)).slice(0, 8),
      dependsOn: step.dependsOn,
    };
    stages.push(stage.kind === "train" ? { ...base, ...planTrain(spec, step.name, stage, domains) } : base);
  }
  return { name: spec.name, hash: await hashSpec(spec), version: VERSION, stages };
}

function planTrain(
  spec: PipelineSpec,
  name: string,
  stage: TrainStage,
  cache: DomainCache,
): Partial<StagePlan> {
  const sm = stageModel(spec, name, stage, cache);
  const names = stage.mix.domains;
  const graph = buildModel(spec.model, sm.build(stage.batch, names.length, true));
  const trainable = new Set([...graph.params.values()].filter((p) => p.trainable).map((p) => p.name));
  const counts = stageParamCounts(spec.model, sm.placements, trainable);
  const { memory, kernels } = planStep(graph, stage.optimizer.clip ?? 0);
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
  const context = spec.model.backbone === "lm" ? tokens(spec.model) : undefined;
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
    kernels,
    qualityScale: sm.gate?.scale,
    sampling: {
      domains: names.map((d, i) => ({ name: d, size: sizes[i], expectedEpochs: epochs[i] })),
      schedule: scheduleSteps(stage).map((s) => ({
        step: s,
        temperature: sampler.temperatureAt(s),
        probabilities: Object.fromEntries(names.map((d, i) => [d, sampler.probabilitiesAt(s)[i]])),
      })),
    },
  };
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

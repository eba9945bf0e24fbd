/** Fills every optional field of a valid spec with its default, so equal meanings give equal (hashed) specs. */

import type {
  AdapterSpec,
  DomainSpec,
  EvaluateStage,
  ExportStage,
  JsonlSource,
  MixSpec,
  OptimizerSpec,
  ParquetSource,
  PipelineSpec,
  ScheduleSpec,
  SourceSpec,
  StageSpec,
  StartFolder,
  TrainStage,
  TransformSpec,
} from "./types.ts";

/** Default values that are not derived from other fields. */
export const DEFAULTS = {
  temperature: 1,
  epochCap: 1,
  weightDecay: 0.01,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
  clip: 0,
  warmup: 0,
  decay: "constant",
  logEvery: 10,
  validationBatches: 4,
  adapterScale: 1,
  dropout: 0,
  init: "kaiming",
  backend: "webgpu",
  /** Task exact_match: most tokens generated per example, and examples scored per domain. */
  exactMatchNewTokens: 32,
  exactMatchExamples: 64,
  opset: 17,
  textField: "text",
  domainField: "domain",
} as const;

/**
 * Returns a copy of a valid spec with every optional field set: a bare temperature becomes a constant
 * schedule, adapter targets become arrays, `dependsOn` is derived from `from`. Idempotent.
 *
 * @example
 * ```ts
 * import { withDefaults } from "./defaults.ts";
 * const spec = withDefaults({
 *   name: "tiny", seed: 0,
 *   domains: { en: { source: { kind: "udhr", language: "eng" } } },
 *   model: { backbone: "lm", context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 4 },
 *   stages: {
 *     t: { kind: "train", mix: { domains: ["en"], strategy: "temperature" }, loss: { kind: "lm" },
 *       optimizer: { kind: "adamw", lr: 1e-3 }, steps: 100, batch: 8 },
 *   },
 * });
 * console.log(spec.stages.t.kind === "train" && spec.stages.t.trainable); // ["*"]
 * ```
 */
export function withDefaults(spec: PipelineSpec): PipelineSpec {
  const domains: Record<string, DomainSpec> = {};
  for (const [name, domain] of Object.entries(spec.domains)) domains[name] = domainDefaults(domain);
  const stages: Record<string, StageSpec> = {};
  const model = withBackbone(spec.model);
  for (const [name, stage] of Object.entries(spec.stages)) stages[name] = stageDefaults(stage, domains);
  // a stage's frozenDtype is kept only when it differs from the model's default ("stored" for pretrained
  // models, "f32" otherwise), so specs (and stage hashes) from before the setting existed stay the same
  const frozenDefault = model.backbone === "pretrained" ? "stored" : "f32";
  for (const [name, stage] of Object.entries(spec.stages)) {
    const out = stages[name];
    if (stage.kind !== "train" || out.kind !== "train") continue;
    if (stage.frozenDtype !== undefined && stage.frozenDtype !== frozenDefault) {
      out.frozenDtype = stage.frozenDtype;
    }
  }
  return { name: spec.name, seed: spec.seed, domains, model, stages };
}

function domainDefaults(domain: DomainSpec): DomainSpec {
  return {
    source: sourceDefaults(domain.source),
    transforms: (domain.transforms ?? []).map(transformDefaults),
  };
}

function sourceDefaults(source: SourceSpec): SourceSpec {
  switch (source.kind) {
    case "mnist":
      return { kind: "mnist", digits: [...(source.digits ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])] };
    case "jsonl":
    case "parquet": {
      const out: JsonlSource | ParquetSource = {
        kind: source.kind as "jsonl",
        path: source.path,
        textField: source.textField ?? DEFAULTS.textField,
      };
      if (source.domain !== undefined) {
        out.domain = source.domain;
        out.domainField = source.domainField ?? DEFAULTS.domainField;
      }
      if (source.tokenizer !== undefined) out.tokenizer = source.tokenizer;
      // no default: the field means nothing to documents, and existing specs keep their hashes
      if (source.packing !== undefined) out.packing = source.packing;
      return out;
    }
    default:
      return { ...source };
  }
}

function transformDefaults(t: TransformSpec): TransformSpec {
  if (t.kind === "degrade") {
    return { kind: "degrade", downsample: t.downsample, blur: t.blur ?? 0, noise: t.noise ?? 0 };
  }
  return { ...t };
}

function stageDefaults(stage: StageSpec, domains: Record<string, DomainSpec>): StageSpec {
  if (stage.kind === "evaluate") {
    const out: EvaluateStage = {
      kind: "evaluate",
      from: stage.from,
      dependsOn: [stage.from],
      tasks: [...stage.tasks],
      backend: stage.backend ?? DEFAULTS.backend,
      domains: [...(stage.domains ?? Object.keys(domains))],
      recognition: (stage.recognition ?? []).map((r) => ({ ...r, probes: [...r.probes] })),
    };
    // only with the task, so the hashes of other evaluate stages stay as they were
    if (stage.tasks.includes("exact_match")) {
      out.exactMatch = {
        maxNewTokens: stage.exactMatch?.maxNewTokens ?? DEFAULTS.exactMatchNewTokens,
        examples: stage.exactMatch?.examples ?? DEFAULTS.exactMatchExamples,
      };
    }
    return out;
  }
  if (stage.kind === "export") {
    const opset = stage.opset ?? DEFAULTS.opset;
    const out: ExportStage = {
      kind: "export",
      from: stage.from,
      dependsOn: [stage.from],
      format: stage.format,
      opset,
    };
    return out;
  }
  const from = stage.from;
  const link = from === undefined
    ? { dependsOn: [] }
    : typeof from === "string"
    ? { from, dependsOn: [from] }
    : { from: { ...from }, dependsOn: [] };
  return trainDefaults(stage, link, domains);
}

function trainDefaults(
  stage: TrainStage,
  link: { from?: string | StartFolder; dependsOn: string[] },
  domains: Record<string, DomainSpec>,
): TrainStage {
  const adapters = (stage.adapters ?? []).map(adapterDefaults);
  const mix = mixDefaults(stage.mix);
  const hasSplit = (d: string): boolean => (domains[d]?.transforms ?? []).some((t) => t.kind === "split");
  const out: TrainStage = {
    kind: "train",
    ...link,
    mix,
    adapters,
    trainable: [...(stage.trainable ?? (adapters.length > 0 ? [] : ["*"]))],
    loss: { ...stage.loss },
    optimizer: optimizerDefaults(stage.optimizer),
    steps: stage.steps,
    batch: stage.batch,
    evalEvery: stage.evalEvery ?? stage.steps,
    logEvery: stage.logEvery ?? DEFAULTS.logEvery,
    checkpointEvery: stage.checkpointEvery ?? stage.steps,
    validation: {
      domains: [...(stage.validation?.domains ?? mix.domains.filter(hasSplit))],
      batches: stage.validation?.batches ?? DEFAULTS.validationBatches,
    },
  };
  if (stage.gate !== undefined) out.gate = structuredClone(stage.gate);
  // likewise only past 1: micro-batches sum in another order, so the results differ at float32 rounding
  if ((stage.accumulate ?? 1) > 1) out.accumulate = stage.accumulate;
  if (stage.recompute === true) out.recompute = true;
  return out;
}

function mixDefaults(mix: MixSpec): MixSpec {
  const base = { domains: [...mix.domains], strategy: mix.strategy };
  switch (mix.strategy) {
    case "temperature":
    case "scalarization":
      return { ...base, temperature: scheduleOf(mix.temperature ?? DEFAULTS.temperature) };
    case "weights":
      return { ...base, weights: { ...mix.weights }, normalize: mix.normalize ?? false };
    case "unimax":
      return { ...base, epochCap: mix.epochCap ?? DEFAULTS.epochCap };
  }
}

function scheduleOf(temperature: number | ScheduleSpec): ScheduleSpec {
  if (typeof temperature === "number") return { kind: "constant", temperature };
  return structuredClone(temperature);
}

function adapterDefaults(adapter: AdapterSpec): AdapterSpec {
  return {
    targets: typeof adapter.targets === "string" ? [adapter.targets] : [...adapter.targets],
    rank: adapter.rank,
    scale: adapter.scale ? { ...adapter.scale } : { kind: "multiplier", value: DEFAULTS.adapterScale },
    dropout: adapter.dropout ?? DEFAULTS.dropout,
    init: adapter.init ?? DEFAULTS.init,
    gated: adapter.gated ?? false,
  };
}

function optimizerDefaults(o: OptimizerSpec): OptimizerSpec {
  return {
    kind: "adamw",
    lr: o.lr,
    weightDecay: o.weightDecay ?? DEFAULTS.weightDecay,
    betas: [...(o.betas ?? DEFAULTS.betas)],
    eps: o.eps ?? DEFAULTS.eps,
    clip: o.clip ?? DEFAULTS.clip,
    warmup: o.warmup ?? DEFAULTS.warmup,
    decay: o.decay ?? DEFAULTS.decay,
  };
}

/** A pretrained model may be written without its backbone tag; the spec spells it out. */
function withBackbone(model: PipelineSpec["model"]): PipelineSpec["model"] {
  return "pretrained" in model ? { ...model, backbone: "pretrained" } : { ...model };
}

/**
 * What a training stage needs beyond its spec: the sampler's strategy, adapter placements, the trained
 * base parameters, and the gate values of every example.
 */
import {
  type AdapterSpec as PlacementSpec,
  countAdapterParams,
  fitQualityScale,
  type GateMapping,
  gateValues,
  normalizeQualities,
  placeAdapters,
  type Placement,
  type QualityScale,
  selectParameters,
} from "../adapters/mod.ts";
import {
  type Domain,
  type ImageDomain,
  type MixStrategy,
  qualityScores,
  type TemperatureSchedule,
} from "../data/mod.ts";
import { linearModules, type ModelConfig } from "../models/config.ts";
import { checkPretrained } from "../models/pretrained/checkpoint.ts";
import type { FrozenDtype, StoredDtypes } from "./half_weights.ts";
import { baseParams } from "../models/params.ts";
import type { AdapterSpec, GateSpec, MixSpec, TrainStage } from "../spec/types.ts";
import type { DomainCache } from "./domains.ts";

/** A problem found while setting a stage up; the message names the stage path. */
export class StageError extends Error {
  override name = "StageError";
}

/** The data sampler's strategy for a stage's mix. */
export function mixStrategy(mix: MixSpec, steps: number, batch: number): MixStrategy {
  const t = mix.temperature ?? 1;
  const schedule: TemperatureSchedule = typeof t === "number" ? { kind: "constant", temperature: t } : t;
  switch (mix.strategy) {
    case "temperature":
      return { kind: "temperature", schedule };
    case "scalarization":
      return { kind: "scalarization", schedule };
    case "weights":
      return {
        kind: "weights",
        weights: mix.domains.map((d) => (mix.weights && Object.hasOwn(mix.weights, d) ? mix.weights[d] : 0)),
        normalize: mix.normalize,
      };
    case "unimax":
      return { kind: "unimax", budget: steps * batch, epochs: mix.epochCap ?? 1 };
  }
}

/** A spec adapter in the form placement takes. */
export function placementSpec(a: AdapterSpec): PlacementSpec {
  const s = a.scale;
  const scale = !s
    ? undefined
    : s.kind === "multiplier"
    ? s.value
    : s.kind === "alpha"
    ? { alpha: s.alpha }
    : { alpha: s.alpha, rslora: true };
  return { targets: a.targets, rank: a.rank, scale, dropout: a.dropout, init: a.init, gated: a.gated };
}

/** Where a stage's adapters go; problems become one StageError listing each. */
export function stagePlacements(name: string, stage: TrainStage, model: ModelConfig): Placement[] {
  const specs = (stage.adapters ?? []).map(placementSpec);
  const { placements, problems } = placeAdapters(specs, linearModules(model));
  if (problems.length) {
    throw new StageError(
      problems.map((p) => `stages.${name}.adapters[${p.index}].${p.field}: ${p.message}`).join("\n"),
    );
  }
  return placements;
}

/** Base parameter names a stage trains fully. */
export function stageTrainable(name: string, stage: TrainStage, model: ModelConfig): Set<string> {
  const names = baseParams(model).map((p) => p.name);
  const patterns = stage.trainable ?? (stage.adapters?.length ? [] : ["*"]);
  const { selected, problems } = selectParameters(patterns, names);
  if (problems.length) {
    throw new StageError(
      problems.map((p) => `stages.${name}.trainable[${p.index}]: ${p.message}`).join("\n"),
    );
  }
  return new Set(selected);
}

/** Parameter counts of a stage: all, trainable, and the adapters' share. */
export function stageParamCounts(
  model: ModelConfig,
  placements: readonly Placement[],
  trainable: ReadonlySet<string>,
): { total: number; trainable: number; adapters: number } {
  let base = 0;
  let trained = 0;
  for (const p of baseParams(model)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    base += n;
    if (trainable.has(p.name)) trained += n;
  }
  const adapters = countAdapterParams(placements);
  return { total: base + adapters, trainable: trained + adapters, adapters };
}

/** The gate's fixed quality scale and a function giving g for a domain's train or validation images. */
export interface StageGate {
  scale?: QualityScale;
  values(domain: Domain, part: "train" | "validation"): Float32Array;
}

function mapping(gate: GateSpec): GateMapping {
  const m = gate.mapping;
  return m.kind === "hard" ? { kind: "threshold", threshold: m.threshold } : m;
}

/**
 * The gate of a stage: scores anchored on the reference domains' training images (a scale fixed once,
 * reused at evaluation), mapped to g. Domain-level scores use each domain's stated level.
 */
export function stageGate(gate: GateSpec, domains: DomainCache): StageGate {
  const map = mapping(gate);
  const score = gate.score;
  if (score.kind === "domain") {
    return {
      values: (d, part) => {
        const n = d.kind === "images" ? (part === "train" ? d.labels.length : d.validation.labels.length) : 0;
        const level = score.levels[d.name];
        if (level === undefined) {
          throw new StageError(`gate.score.levels has no level for domain "${d.name}"`);
        }
        return gateValues(map, new Float32Array(n).fill(level));
      },
    };
  }
  if (score.kind === "stored") {
    throw new StageError(
      `gate.score.kind "stored" needs per-example scores, which no built-in source provides yet`,
    );
  }
  const measure = score.measure;
  const raw = (d: ImageDomain, part: "train" | "validation") =>
    qualityScores(part === "train" ? d.images : d.validation.images, d.side, measure);
  const reference: number[] = [];
  for (const name of score.reference) {
    const d = domains.get(name);
    if (d.kind !== "images") {
      throw new StageError(`gate.score.reference: domain "${name}" holds text, not images`);
    }
    reference.push(...raw(d, "train"));
  }
  const scale = fitQualityScale(reference);
  return {
    scale,
    values: (d, part) => {
      if (d.kind !== "images") {
        throw new StageError(`a quality gate needs image domains; "${d.name}" holds text`);
      }
      return gateValues(map, normalizeQualities(raw(d, part), scale));
    },
  };
}

/**
 * How a train stage keeps its frozen matmul weights: its `frozenDtype`, by default ("stored") as a pretrained
 * checkpoint stores them, with the checkpoint's stored element types read from its headers.
 */
export function stageFrozen(
  stage: TrainStage,
  model: ModelConfig,
): { frozenDtype: FrozenDtype; stored?: StoredDtypes } {
  const pretrained = model.backbone === "pretrained";
  const frozenDtype = stage.frozenDtype ?? (pretrained ? "stored" : "f32");
  if (frozenDtype !== "stored") return { frozenDtype };
  return pretrained
    ? { frozenDtype, stored: checkPretrained(model.pretrained).dtypes }
    : { frozenDtype: "f32" };
}

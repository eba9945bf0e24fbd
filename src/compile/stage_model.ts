/** The model of a training stage as later stages rebuild it: placements, gate, and build options. */
import type { Placement } from "../adapters/mod.ts";
import type { BuildOptions, LossKind } from "../models/graph.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { type DomainCache, imageInputSide } from "./domains.ts";
import { type StageGate, stageGate, stagePlacements, stageTrainable } from "./stage_setup.ts";

/** What evaluation and export need to rebuild a trained model. */
export interface StageModel {
  placements: Placement[];
  gate?: StageGate;
  build: (batch: number, domains: number, training?: boolean) => BuildOptions;
}

/**
 * Whether some domain packs its examples with `packing: isolate`: the pipeline's language-model graphs then
 * read per-token positions (its other windows get 0..T-1, which computes what a graph without them does).
 */
export function isolatesExamples(spec: PipelineSpec): boolean {
  return Object.values(spec.domains).some((d) => "packing" in d.source && d.source.packing === "isolate");
}

/** The model of train stage `name`. */
export function stageModel(
  spec: PipelineSpec,
  name: string,
  stage: TrainStage,
  domains: DomainCache,
): StageModel {
  const placements = stagePlacements(name, stage, spec.model);
  const trainable = stageTrainable(name, stage, spec.model);
  const gate = stage.gate ? stageGate(stage.gate, domains) : undefined;
  const lora = placements.map((p) => ({
    path: p.path,
    rank: p.rank,
    scale: p.scale,
    gated: p.gated,
    dropout: p.dropout,
  }));
  const side = imageInputSide(spec);
  const positions = isolatesExamples(spec);
  return {
    placements,
    gate,
    build: (batch, n, training = false) => ({
      batch,
      training,
      // recomputation makes the logits again anyway: keeping them would only add their memory
      ...(stage.recompute ? { keepLogits: false } : {}),
      domains: n,
      loss: stage.loss as LossKind,
      lora,
      trainable: (p: string) => trainable.has(p),
      side,
      ...(positions ? { positions } : {}),
    }),
  };
}

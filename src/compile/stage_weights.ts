/**
 * A training stage's starting weights and its adapter folder's contents: shared by the run folders
 * (src/run/) and the page, so both start from the same values and write the same adapter.
 */
import { peftBase } from "../adapters/base_model.ts";
import type { AdapterFolder } from "../adapters/adapter_folder.ts";
import { initAdapters, type Placement } from "../adapters/mod.ts";
import { loraNames } from "../models/graph.ts";
import { baseParams, ownParams } from "../models/params.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { placementSpec, stageTrainable } from "./stage_setup.ts";

/** What a stage starts from: the pipeline, the `from` stage's weights, adapter values it loads. */
export interface StageStart {
  spec: PipelineSpec;
  /** Final weights of the `from` stage. */
  start?: Map<string, Float32Array>;
  /** LoRA starting values by LoRA parameter name (a stage that starts from an adapter folder). */
  startLora?: Map<string, Float32Array>;
}

/**
 * Starting values: the `from` stage's weights (or the seeded init) and the seeded adapters. A pretrained
 * model's checkpoint weights are left out unless the `from` stage holds them: they stream from `streamed`
 * (its checkpoint) to the GPU, so every name must be given here or be one `streamed` has.
 */
export function initialWeights(
  ctx: StageStart,
  placements: readonly Placement[],
  names: Iterable<string>,
  streamed?: { has(name: string): boolean },
): Map<string, Float32Array> {
  const own = ownParams(ctx.spec.model, ctx.spec.seed);
  const values = new Map<string, Float32Array>();
  for (const { name } of baseParams(ctx.spec.model)) {
    const v = ctx.start?.get(name) ?? own.get(name);
    if (v) values.set(name, v);
  }
  initAdapters(placements, ctx.spec.seed).forEach((w, i) => {
    const p = placements[i];
    const branches = p.gated ? (["hq", "lq"] as const) : [undefined];
    branches.forEach((branch, b) => {
      const n = loraNames(p.path, branch);
      values.set(n.A, ctx.startLora?.get(n.A) ?? w.branches[b].a);
      values.set(n.B, ctx.startLora?.get(n.B) ?? w.branches[b].b);
    });
  });
  for (const name of names) {
    if (!values.has(name) && !streamed?.has(name)) throw new Error(`no initial value for parameter ${name}`);
  }
  return values;
}

/** The adapter folder of a trained stage: its LoRA weights, scales and the weights it trained outright. */
export function stageAdapterFolder(
  spec: PipelineSpec,
  name: string,
  stage: TrainStage,
  placements: Placement[],
  weights: Map<string, Float32Array>,
  scale: unknown,
): AdapterFolder {
  const adapterWeights = placements.map((p) => {
    const branches = (p.gated ? (["hq", "lq"] as const) : [undefined]).map((b) => {
      const n = loraNames(p.path, b);
      return { a: weights.get(n.A)!, b: weights.get(n.B)! };
    });
    return { path: p.path, branches };
  });
  const specs = (stage.adapters ?? []).map(placementSpec);
  const scales = Object.fromEntries(placements.map((p) => [p.path, specs[p.adapter].scale ?? 1]));
  // weights the stage trained outright go with the adapter, so base + adapter is the trained model
  const trained = stageTrainable(name, stage, spec.model);
  const params = baseParams(spec.model);
  const modulesToSave = [...new Set(params.filter((p) => trained.has(p.name)).map((p) => p.module))];
  const modules = Object.fromEntries(
    params.filter((p) => modulesToSave.includes(p.module)).map((
      p,
    ) => [p.name, { shape: p.shape, data: weights.get(p.name)! }]),
  );
  return {
    placements,
    weights: adapterWeights,
    scales,
    modulesToSave,
    modules,
    ...peftBase(spec.model),
    gate: placements.some((p) => p.gated)
      ? { stage: name, gate: stage.gate ?? null, qualityScale: scale ?? null }
      : undefined,
  };
}

/**
 * Export stages: the trained ViT as ONNX (plain adapters merged, gated ones kept as branches with the gate
 * as an input), checked in onnxruntime against the WebGPU forward on held-out images.
 */
import type { Placement } from "../adapters/mod.ts";
import { Forward } from "../compile/forward.ts";
import { ParamStore } from "../compile/param_store.ts";
import type { ImageDomain } from "../data/mod.ts";
import { type LoraSet, ortEmbeddings, parity, vitToOnnx, type Weights } from "../export/mod.ts";
import type { VitConfig } from "../models/config.ts";
import { buildModel, loraNames } from "../models/graph.ts";
import type { ExportStage, PipelineSpec, TrainStage } from "../spec/types.ts";
import type { DomainCache } from "../compile/domains.ts";
import { writeAtomic } from "../files.ts";
import { stageModel } from "../compile/stage_model.ts";
import { StageFailure } from "./train.ts";
import { embeddings } from "./validation.ts";

/** Largest relative difference allowed between onnxruntime and WebGPU outputs. */
export const PARITY_TOLERANCE = 1e-4;

/** The arguments of `vitToOnnx` for a trained stage's weights. */
export function onnxInputs(
  spec: PipelineSpec,
  train: TrainStage,
  placements: readonly Placement[],
  weights: ReadonlyMap<string, Float32Array>,
): [VitConfig, Weights, { logitScale: number; lora: LoraSet }] {
  if (spec.model.backbone !== "vit") throw new StageFailure("ONNX export supports the vit backbone only");
  const shapes = new Map(
    [...buildModel(spec.model, { batch: 1, domains: 1, loss: train.loss as never }).params.values()].map((
      p,
    ) => [
      p.name,
      [...p.shape],
    ]),
  );
  const base: Weights = {};
  for (const [name, shape] of shapes) base[name] = { shape, data: weights.get(name)! };
  const lora: LoraSet = {};
  for (const p of placements) {
    const t = (name: string, shape: number[]) => ({ shape, data: weights.get(name)! });
    const one = loraNames(p.path, p.gated ? "hq" : undefined);
    const entry: LoraSet[string] = {
      scale: p.scale,
      A1: t(one.A, [p.rank, p.in]),
      B1: t(one.B, [p.out, p.rank]),
    };
    if (p.gated) {
      const two = loraNames(p.path, "lq");
      entry.A2 = t(two.A, [p.rank, p.in]);
      entry.B2 = t(two.B, [p.out, p.rank]);
    }
    lora[p.path] = entry;
  }
  const loss = train.loss;
  const logitScale = loss.kind === "cosface" || loss.kind === "arcface" ? loss.scale : 1;
  return [spec.model, base, { logitScale, lora }];
}

/** What an export stage needs. */
export interface ExportContext {
  device: GPUDevice;
  spec: PipelineSpec;
  name: string;
  stage: ExportStage;
  dir: string;
  domains: DomainCache;
  weights: Map<string, Float32Array>;
  /** Images a forward pass runs at once (the plan's). */
  batch: number;
}

/** Writes `model.onnx` and checks it against WebGPU on up to 64 held-out images of the train stage's data. */
export async function runExport(ctx: ExportContext): Promise<Record<string, unknown>> {
  const train = ctx.spec.stages[ctx.stage.from] as TrainStage;
  const sm = stageModel(ctx.spec, ctx.stage.from, train, ctx.domains);
  const bytes = vitToOnnx(...onnxInputs(ctx.spec, train, sm.placements, ctx.weights));
  await writeAtomic(`${ctx.dir}/model.onnx`, bytes);

  const d = ctx.domains.get(train.mix.domains[0]) as ImageDomain;
  const pixels = d.side * d.side;
  const source = d.validation.labels.length > 0 ? d.validation.images : d.images;
  const count = Math.min(64, source.length / pixels);
  const images = source.slice(0, count * pixels);
  const part = d.validation.labels.length > 0 ? "validation" : "train";
  const gate = sm.gate ? sm.gate.values(d, part).slice(0, count) : undefined;
  const batch = ctx.batch;
  const graph = buildModel(ctx.spec.model, sm.build(batch, 1));
  const store = new ParamStore(ctx.device, [...graph.params.values()].map((p) => ({ ...p, shape: p.shape })));
  store.upload(ctx.weights);
  const forward = await Forward.compile(ctx.device, store, graph, [graph.embedding!]);
  const gpu = await embeddings(forward, images, d.side, batch, gate);
  forward.destroy();
  store.destroy();
  const ort = await ortEmbeddings(bytes, images, count, { gate });
  const p = parity({ embedding: ort.embedding }, { embedding: gpu });
  const summary = {
    stage: ctx.name,
    from: ctx.stage.from,
    file: "model.onnx",
    bytes: bytes.length,
    gated: sm.placements.some((q) => q.gated),
    parity: {
      images: count,
      maxRelError: p.maxRelError,
      maxAbsError: p.maxAbsError,
      tolerance: PARITY_TOLERANCE,
    },
    tables: [{
      title: `${ctx.name}: ONNX parity (onnxruntime CPU vs WebGPU, ${count} held-out images)`,
      columns: ["output", "max relative error", "max absolute error"],
      rows: [["embedding", p.maxRelError, p.maxAbsError]],
    }],
  };
  if (!(p.maxRelError <= PARITY_TOLERANCE)) {
    throw new StageFailure(
      `stage ${ctx.name}: ONNX output differs from WebGPU by ${p.maxRelError.toExponential(2)} (relative), ` +
        `above ${PARITY_TOLERANCE}; model.onnx is kept in ${ctx.dir} for inspection`,
    );
  }
  return summary;
}

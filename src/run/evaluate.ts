/**
 * Evaluate stages: validation loss per domain, and recognition as face recognition measures it
 * (class-mean gallery of HR training images, held-out probes: rank-1 and TAR at FAR), on WebGPU or
 * onnxruntime.
 */
import { Forward } from "../compile/forward.ts";
import { ParamStore } from "../compile/param_store.ts";
import type { ImageDomain } from "../data/mod.ts";
import { classMeans, rank1Accuracy, verificationTar } from "../eval/mod.ts";
import { ortEmbeddings, vitToOnnx } from "../export/mod.ts";
import { isCausal, tokens } from "../models/config.ts";
import { buildModel } from "../models/graph.ts";
import type { EvaluateStage, PipelineSpec, TrainStage } from "../spec/types.ts";
import type { DomainCache } from "../compile/domains.ts";
import { onnxInputs } from "./export_stage.ts";
import { stageModel } from "../compile/stage_model.ts";
import { embeddings, validationLoss } from "./validation.ts";
import { concatFloats } from "./_concat.ts";

/** One recognition protocol: a gallery domain's training images against probe domains' held-out images. */
export interface RecognitionSet {
  name: string;
  gallery: string;
  probes: string[];
}

/** What an evaluate stage needs. */
export interface EvaluateContext {
  device: GPUDevice;
  spec: PipelineSpec;
  name: string;
  stage: EvaluateStage & { recognition?: RecognitionSet[] };
  domains: DomainCache;
  /** Final weights of the train stage named by `stage.from`. */
  weights: Map<string, Float32Array>;
  /** Examples a forward pass runs at once: the plan's, fitted to the device's limits. */
  batch: number;
}

/** Runs the stage; returns its summary. */
export async function runEvaluate(ctx: EvaluateContext): Promise<Record<string, unknown>> {
  const { spec, stage } = ctx;
  const batch = ctx.batch;
  const trainName = stage.from;
  const train = spec.stages[trainName] as TrainStage;
  const sm = stageModel(spec, trainName, train, ctx.domains);
  const graph = buildModel(spec.model, sm.build(batch, 1));
  const store = new ParamStore(
    ctx.device,
    [...graph.params.values()].map((p) => ({ name: p.name, shape: p.shape, trainable: p.trainable })),
  );
  store.upload(ctx.weights);
  const outputs = [graph.perExample, ...(graph.embedding ? [graph.embedding] : [])];
  const forward = await Forward.compile(ctx.device, store, graph, outputs);
  const onnx = stage.backend === "onnxruntime"
    ? vitToOnnx(...onnxInputs(spec, train, sm.placements, ctx.weights))
    : undefined;
  const metrics: Record<string, number | null> = {};
  const tables: { title: string; columns: string[]; rows: (string | number | null)[][] }[] = [];
  const context = isCausal(spec.model) ? tokens(spec.model) : 0;
  try {
    const wantLoss = stage.tasks.includes("validation_loss");
    const wantPerplexity = stage.tasks.includes("perplexity");
    if (wantLoss || wantPerplexity) {
      const rows: (string | number)[][] = [];
      for (const name of stage.domains ?? Object.keys(spec.domains)) {
        const d = ctx.domains.get(name);
        const gate = sm.gate && d.kind === "images" ? sm.gate.values(d, "validation") : undefined;
        const loss = await validationLoss(forward, d, batch, context, Infinity, gate);
        // every example has `context` tokens, so the mean of per-example means is the mean over tokens
        const perplexity = Math.exp(loss);
        if (wantLoss) metrics[`validation_loss/${name}`] = loss;
        if (wantPerplexity) metrics[`perplexity/${name}`] = perplexity;
        rows.push([name, ...(wantLoss ? [round(loss)] : []), ...(wantPerplexity ? [round(perplexity)] : [])]);
      }
      tables.push({
        title: `${ctx.name}: ${
          [wantLoss && "validation loss", wantPerplexity && "perplexity"].filter(Boolean).join(" and ")
        }`,
        columns: ["domain", ...(wantLoss ? ["loss"] : []), ...(wantPerplexity ? ["perplexity"] : [])],
        rows,
      });
    }
    if (stage.tasks.includes("recognition")) {
      const embed = async (d: ImageDomain, part: "train" | "validation") => {
        const images = part === "train" ? d.images : d.validation.images;
        const gate = sm.gate ? sm.gate.values(d, part) : undefined;
        if (onnx) {
          return (await ortEmbeddings(onnx, images, images.length / (d.side * d.side), { gate })).embedding;
        }
        return await embeddings(forward, images, d.side, batch, gate);
      };
      const dim = graph.embedding!.shape[1];
      const rows: (string | number | null)[][] = [];
      for (const set of stage.recognition ?? []) {
        const g = ctx.domains.get(set.gallery) as ImageDomain;
        const gallery = classMeans(await embed(g, "train"), g.labels, dim);
        const probeEmb: Float32Array[] = [];
        const probeLabels: Int32Array[] = [];
        for (const p of set.probes) {
          const d = ctx.domains.get(p) as ImageDomain;
          probeEmb.push(await embed(d, "validation"));
          probeLabels.push(d.validation.labels);
        }
        const emb = concatFloats(probeEmb);
        const labels = Int32Array.from(probeLabels.flatMap((l) => [...l]));
        const rank1 = rank1Accuracy(emb, labels, gallery);
        // Too few probe pairs for a FAR leaves it unmeasured (null in the table), not a failed stage.
        const tar = verificationTar({ embeddings: emb, labels }, dim, {
          fars: [1e-2, 1e-3],
          skipUnmeasurable: true,
        });
        const at = (far: number) => tar.points.find((q) => q.far === far)?.tar ?? null;
        metrics[`rank1/${set.name}`] = rank1;
        metrics[`tar@1e-2/${set.name}`] = at(1e-2);
        metrics[`tar@1e-3/${set.name}`] = at(1e-3);
        rows.push([set.name, round(rank1 * 100), pct(at(1e-2)), pct(at(1e-3))]);
      }
      tables.push({
        title: `${ctx.name}: recognition (${stage.backend ?? "webgpu"})`,
        columns: ["set", "rank-1 %", "TAR@FAR=1e-2 %", "TAR@FAR=1e-3 %"],
        rows,
      });
    }
  } finally {
    forward.destroy();
    store.destroy();
  }
  return { stage: ctx.name, from: trainName, backend: stage.backend ?? "webgpu", metrics, tables };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function pct(x: number | null): number | null {
  return x === null ? null : Math.round(x * 1e4) / 1e2;
}

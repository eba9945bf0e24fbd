/**
 * Evaluate stages: validation loss per domain (over response tokens for supervised examples), exact match of
 * greedy responses (instruction domains), and recognition as face recognition measures it
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
import { pretrainedWeights } from "../models/params.ts";
import type { EvaluateStage, PipelineSpec, TrainStage } from "../spec/types.ts";
import type { DomainCache } from "../compile/domains.ts";
import { onnxInputs } from "./export_stage.ts";
import { stageModel } from "../compile/stage_model.ts";
import { stageFrozen } from "../compile/stage_setup.ts";
import { sharedHalfWeights } from "../compile/half_weights.ts";
import { embeddings, validationLoss } from "./validation.ts";
import { concatFloats } from "./_concat.ts";
import { greedyResponses } from "./greedy.ts";
import { exactMatch, promptAndResponse, responseText, stopIds } from "../eval/exact_match.ts";
import { byteTokenizer, loadTokenizer } from "../data/tokenizer.ts";
import { DataError } from "../data/errors.ts";
import type { ModelGraph } from "../models/graph.ts";

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
  /** Final weights of the train stage named by `stage.from` (a pretrained model's frozen ones left out). */
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
  const outputs = [graph.perExample, ...(graph.embedding ? [graph.embedding] : [])];
  const context = isCausal(spec.model) ? tokens(spec.model) : 0;
  // greedy decoding reads logits [rows, T, vocab] back whole: rows are few enough to keep them near 64 MiB
  const decoding = stage.tasks.includes("exact_match")
    ? buildModel(
      spec.model,
      sm.build(Math.max(1, Math.min(batch, Math.floor(2 ** 24 / (context * vocabOf(graph))))), 1),
    )
    : undefined;
  // frozen weights as the train stage keeps them (its frozenDtype: by default as the checkpoint stores them)
  const { frozenDtype, stored } = stageFrozen(train, spec.model);
  const half = sharedHalfWeights(
    [outputs, ...(decoding ? [[decoding.logits!]] : [])],
    frozenDtype,
    stored,
  );
  const store = new ParamStore(
    ctx.device,
    [...graph.params.values()].map((p) => ({
      name: p.name,
      shape: p.shape,
      trainable: p.trainable,
      half: half.get(p.name) ?? false,
    })),
  );
  // a pretrained model's checkpoint weights stream in from its folder; the train stage's weights hold the rest
  await store.load(ctx.weights, pretrainedWeights(spec.model));
  const forward = await Forward.compile(ctx.device, store, graph, outputs);
  const onnx = stage.backend === "onnxruntime"
    ? vitToOnnx(...onnxInputs(spec, train, sm.placements, ctx.weights))
    : undefined;
  const metrics: Record<string, number | null> = {};
  const tables: { title: string; columns: string[]; rows: (string | number | null)[][] }[] = [];
  try {
    const wantLoss = stage.tasks.includes("validation_loss");
    const wantPerplexity = stage.tasks.includes("perplexity");
    if (wantLoss || wantPerplexity) {
      const rows: (string | number)[][] = [];
      for (const name of stage.domains ?? Object.keys(spec.domains)) {
        const d = ctx.domains.get(name);
        const gate = sm.gate && d.kind === "images" ? sm.gate.values(d, "validation") : undefined;
        const loss = await validationLoss(forward, d, batch, context, Infinity, gate);
        // the mean over the tokens scored (response tokens of supervised examples), so e^loss is perplexity
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
    if (decoding) tables.push(...await exactMatchTables(ctx, decoding, store, context, metrics));
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

/** Responses shown per domain beside the score, so a reader sees how the model fails, not only how often. */
const SAMPLES = 3;

type Table = { title: string; columns: string[]; rows: (string | number | null)[][] };

/**
 * Task exact_match: greedy responses to each domain's first held-out examples, scored exactly; and the
 * first few of them, reference against generated text.
 */
async function exactMatchTables(
  ctx: EvaluateContext,
  graph: ModelGraph,
  store: ParamStore,
  context: number,
  metrics: Record<string, number | null>,
): Promise<Table[]> {
  const { spec, stage } = ctx;
  const maxNew = stage.exactMatch?.maxNewTokens ?? 32;
  const limit = stage.exactMatch?.examples ?? 64;
  if (!graph.logits) throw new Error("exact_match: this model has no next-token logits");
  const forward = await Forward.compile(ctx.device, store, graph, [graph.logits]);
  const rows: (string | number)[][] = [];
  const samples: string[][] = [];
  try {
    for (const name of stage.domains ?? Object.keys(spec.domains)) {
      const d = ctx.domains.get(name);
      if (d.kind !== "text" || d.heldOut === undefined) {
        throw new DataError(
          `exact_match: domain "${name}" holds no supervised examples (chat, Alpaca or prompt/completion records)`,
        );
      }
      const src = spec.domains[name].source;
      const tokenizer = "tokenizer" in src && src.tokenizer !== undefined
        ? loadTokenizer(src.tokenizer)
        : byteTokenizer;
      const stops = stopIds(tokenizer);
      const n = Math.min(limit, d.heldOut.offsets.length - 1);
      const pairs = Array.from({ length: n }, (_, i) => promptAndResponse(d.heldOut!, i));
      const generated = await greedyResponses(forward, graph.logits, pairs.map((p) => p.prompt), {
        batch: graph.inputs.x.shape[0],
        context,
        vocab: graph.logits.shape[2],
        maxNew,
        stops,
      });
      const matched = pairs.map((p, i) => exactMatch(generated[i], p.response, stops, tokenizer));
      const hits = matched.filter(Boolean).length;
      metrics[`exact_match/${name}`] = hits / n;
      rows.push([name, n, hits, round(hits / n)]);
      const text = (ids: readonly number[]) => JSON.stringify(responseText(ids, stops, tokenizer));
      for (let i = 0; i < Math.min(SAMPLES, n); i++) {
        samples.push([name, text(pairs[i].response), text(generated[i]), matched[i] ? "yes" : "no"]);
      }
    }
  } finally {
    forward.destroy();
  }
  return [{
    title: `${ctx.name}: exact match (greedy, at most ${maxNew} new tokens)`,
    columns: ["domain", "examples", "matched", "exact match"],
    rows,
  }, {
    title: `${ctx.name}: the first ${SAMPLES} held-out responses of each domain`,
    columns: ["domain", "reference", "generated", "match"],
    rows: samples,
  }];
}

function vocabOf(graph: ModelGraph): number {
  if (!graph.logits) throw new Error("exact_match: this model has no next-token logits");
  return graph.logits.shape[2];
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

function pct(x: number | null): number | null {
  return x === null ? null : Math.round(x * 1e4) / 1e2;
}

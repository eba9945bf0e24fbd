/**
 * Runs one training stage: replays the compiled step over sampled batches, logs metrics, validates,
 * checkpoints, and resumes exactly from the last checkpoint.
 */
import { gateHistogram, type Placement, saveAdapterFolder } from "../adapters/mod.ts";
import { Forward } from "../compile/forward.ts";
import { TrainStep } from "../compile/train_step.ts";
import { domainSizes, Sampler } from "../data/mod.ts";
import { isCausal, pretrainedVit, tokens } from "../models/config.ts";
import { buildModel } from "../models/graph.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { type GateTable, trainBatch } from "./batches.ts";
import {
  type Checkpoint,
  lastCheckpoint,
  loadCheckpoint,
  removeCheckpoints,
  saveCheckpoint,
  weightsFile,
} from "./checkpoint.ts";
import type { DomainCache } from "../compile/domains.ts";
import { appendJsonl, parseJson, writeAtomic } from "../files.ts";
import { notFiniteCause } from "./finite.ts";
import { concatFloats } from "./_concat.ts";
import { learningRate } from "./lr.ts";
import type { Logger } from "./log.ts";
import { mixStrategy, stageFrozen } from "../compile/stage_setup.ts";
import { pretrainedWeights } from "../models/params.ts";
import { type BaseRef, baseRef, checkBase } from "../models/pretrained/base_ref.ts";
import { PretrainedError } from "../models/pretrained/errors.ts";
import { initialWeights, stageAdapterFolder } from "../compile/stage_weights.ts";
import { stageModel } from "../compile/stage_model.ts";
import { validationLoss } from "./validation.ts";

/** A stage stopped: a non-finite loss, or a failure while running; partial results stay in `dir`. */
export class StageFailure extends Error {
  override name = "StageFailure";
}

/** What a training stage needs from the pipeline run. */
export interface TrainContext {
  device: GPUDevice;
  spec: PipelineSpec;
  name: string;
  stage: TrainStage;
  dir: string;
  domains: DomainCache;
  /** Final weights of the `from` stage (less a pretrained model's frozen checkpoint weights). */
  start?: Map<string, Float32Array>;
  /** LoRA starting values by LoRA parameter name (a stage that starts from an adapter folder). */
  startLora?: Map<string, Float32Array>;
  resume: boolean;
  log: Logger;
}

/** The final weights and the summary of a finished stage. */
export interface TrainResult {
  /** Every weight but a pretrained model's frozen checkpoint weights (read from the checkpoint instead). */
  weights: Map<string, Float32Array>;
  summary: Record<string, unknown>;
}

/** Runs the stage to its last step and writes weights, adapters and summary into `ctx.dir`. */
export async function runTrain(ctx: TrainContext): Promise<TrainResult> {
  const { spec, stage, dir, device } = ctx;
  const model = spec.model;
  const context = isCausal(model) ? tokens(model) : 0;
  const steps = stage.steps;
  const batch = stage.batch;
  const names = stage.mix.domains;
  const domains = ctx.domains.all(names);
  const sizes = domainSizes(domains, context || undefined);
  const { placements, gate, build: options } = stageModel(spec, ctx.name, stage, ctx.domains);
  const gates: GateTable = gate ? domains.map((d) => gate.values(d, "train")) : undefined;
  // with gradient accumulation the step (and validation) run a micro-batch at a time
  const accumulate = stage.accumulate ?? 1;
  const micro = batch / accumulate;
  const build = options(micro, names.length, false);
  const graph = buildModel(model, options(micro, names.length, true));
  const o = stage.optimizer;
  const [beta1, beta2] = o.betas ?? [0.9, 0.999];
  const step = await TrainStep.compile(device, graph, {
    beta1,
    beta2,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0,
    clip: o.clip,
    seed: spec.seed,
    ...stageFrozen(stage, model),
    accumulate,
    recompute: stage.recompute,
  });
  const evalGraph = buildModel(model, build);
  const evalForward = await Forward.compile(device, step.store, evalGraph, [evalGraph.perExample]);

  const shapes = new Map([...graph.params.values()].map((p) => [p.name, p.shape]));
  const strategy = mixStrategy(stage.mix, steps, batch);
  let sampler = new Sampler({ sizes, strategy, steps, seed: ctx.spec.seed });
  let first = 0;
  const metricsPath = `${dir}/metrics.jsonl`;
  const counts = new Float64Array(names.length);
  let sinceStep = 0;
  let lastLoss = NaN;
  let lastVal: Record<string, number> = {};
  // training time of earlier attempts (up to the checkpoint resumed from), plus this one's
  let priorSeconds = 0;
  const started = performance.now();
  const elapsed = () => priorSeconds + (performance.now() - started) / 1000;
  const vit = pretrainedVit(model);
  if (vit && vit.labels > 0) {
    ctx.log.line(
      `${ctx.name}: classifier (${vit.labels} classes) not used: the pipeline's cosine head replaces it`,
    );
  }
  // a pretrained model's checkpoint weights stream to the GPU a piece at a time and are never held here; the
  // stage's weight files hold what it changed and name the checkpoint for the rest
  const source = pretrainedWeights(model);
  const base = source ? await baseRef(source.dir) : undefined;
  const found = ctx.resume ? await loadCheckpoint(dir, (t) => ctx.log.line(`${ctx.name}: ${t}`)) : undefined;
  if (ctx.resume && !found) {
    ctx.log.line(`${ctx.name}: no checkpoint in ${dir} to resume from; starting at step 0`);
  }
  if (found) {
    const saved = found.checkpoint;
    if (saved.base && source) {
      await checkBase(`${found.path}/weights.safetensors`, saved.base, source.dir).catch((e) => {
        throw e instanceof PretrainedError ? new StageFailure(`stage ${ctx.name}: ${e.message}`) : e;
      });
    }
    // a checkpoint without a reference holds every weight
    await step.store.load(saved.weights, saved.base ? source : undefined);
    step.restoreOptimizer(saved.optimizer);
    sampler = Sampler.restore(saved.sampler);
    first = saved.step;
    // the sums of the metrics line in progress, so the next line covers the same steps as without the kill
    const loop = saved.loop as Partial<LoopState>;
    sinceStep = loop.sinceStep ?? first;
    if (loop.counts) counts.set(loop.counts);
    if (loop.metrics?.length) step.restoreMetrics(Float32Array.from(loop.metrics));
    // a kill after the final checkpoint: the summary is built from what that checkpoint kept
    if (typeof loop.loss === "number") lastLoss = loop.loss;
    if (loop.validation) lastVal = loop.validation;
    if (typeof loop.seconds === "number") priorSeconds = loop.seconds;
    await truncateMetrics(metricsPath, first);
    ctx.log.line(`${ctx.name}: resuming at step ${first} of ${steps}`);
  } else {
    await removeCheckpoints(dir);
    await step.store.load(initialWeights(ctx, placements, graph.params.keys(), source), source);
    await Deno.writeTextFile(metricsPath, "");
    if (gates) await appendJsonl(metricsPath, { type: "gate", step: 0, histogram: histograms(gates, names) });
  }

  const logEvery = stage.logEvery ?? 10;
  const evalEvery = stage.evalEvery ?? steps;
  const checkpointEvery = stage.checkpointEvery ?? steps;
  const validationDomains = (stage.validation?.domains ?? names).map((n) => ctx.domains.get(n));
  // the same windows as `batches` batches of `batch` examples, a micro-batch at a time
  const validationBatches = (stage.validation?.batches ?? 4) * accumulate;
  let since = performance.now();
  const validate = async (at: number) => {
    const v: Record<string, number> = {};
    for (const d of validationDomains) {
      const g = gate && d.kind === "images" ? gate.values(d, "validation") : undefined;
      v[d.name] = await validationLoss(evalForward, d, micro, context, validationBatches, g);
    }
    lastVal = v;
    await appendJsonl(metricsPath, { type: "eval", step: at, validationLoss: v });
  };

  for (let s = first; s < steps; s++) {
    const draw = sampler.next(batch, s);
    for (const d of draw.domain) counts[d]++;
    step.feed(trainBatch(domains, draw, context, gates));
    step.run(learningRate(o, s, steps));
    const done = s + 1;
    if (done % logEvery === 0 || done === steps) {
      const m = await step.drainMetrics();
      if (m.nanStep > 0 || m.weightStep > 0) throw await notFinite(ctx.name, m.nanStep, m.weightStep, dir);
      const n = done - sinceStep;
      const now = performance.now();
      lastLoss = m.loss / n;
      const domainLoss: Record<string, number> = {};
      names.forEach((name, i) => {
        if (counts[i] > 0) domainLoss[name] = m.domainLoss[i] / counts[i];
      });
      counts.fill(0);
      const samplesPerSec = n * batch / ((now - since) / 1000);
      const probs = sampler.probabilitiesAt(s);
      await appendJsonl(metricsPath, {
        type: "train",
        step: done,
        loss: lastLoss,
        lr: learningRate(o, s, steps),
        temperature: sampler.temperatureAt(s),
        probabilities: Object.fromEntries(names.map((d, i) => [d, probs[i]])),
        domainLoss,
        epochs: Object.fromEntries(sampler.epochs().map((e, i) => [names[i], e])),
        samplesPerSec,
      });
      ctx.log.progress({
        stage: ctx.name,
        step: done,
        steps,
        loss: lastLoss,
        samplesPerSec,
        stepsPerSec: samplesPerSec / batch,
        tokensPerSample: context || undefined,
        memoryBytes: step.memory().total,
      });
      since = now;
      sinceStep = done;
    }
    if (done % evalEvery === 0 || done === steps) await validate(done);
    if (done % checkpointEvery === 0 && done < steps) {
      // the loss is read back only every logEvery steps: never checkpoint weights made by a non-finite step
      const sums = await step.metricsState();
      if (sums[62] > 0 || sums[61] > 0) throw await notFinite(ctx.name, sums[62], sums[61], dir);
      const loop: LoopState = {
        sinceStep,
        counts: [...counts],
        metrics: [...sums],
        loss: lastLoss,
        validation: lastVal,
        seconds: elapsed(),
      };
      await checkpoint(ctx, step, sampler, done, shapes, loop, base);
    }
  }

  const weights = await step.store.download();
  await writeAtomic(`${dir}/weights.safetensors`, weightsFile(weights, shapes, base));
  if (placements.length) await saveAdapters(ctx, placements, weights, gate?.scale);
  await checkpoint(ctx, step, sampler, steps, shapes, {
    sinceStep: steps,
    counts: [...counts],
    metrics: [],
    loss: lastLoss,
    validation: lastVal,
    seconds: elapsed(),
  }, base);
  const epochs = sampler.epochs();
  const summary = {
    stage: ctx.name,
    steps,
    // the pipeline adds this attempt's time to that of the attempts before a resume
    wallSeconds: priorSeconds,
    memoryBytes: step.memory().total,
    memory: step.memory(),
    metrics: { loss: lastLoss, ...prefix("validation_loss", lastVal) },
    epochs: Object.fromEntries(epochs.map((e, i) => [names[i], e])),
    qualityScale: gate?.scale,
    tables: [{
      title: `${ctx.name}: final validation loss per domain`,
      columns: ["domain", "examples", "epochs seen", "validation loss"],
      rows: validationDomains.map((d) => {
        const i = names.indexOf(d.name);
        return [
          d.name,
          i >= 0 ? sizes[i] : null,
          i >= 0 ? round(epochs[i]) : null,
          round(lastVal[d.name]),
        ];
      }),
    }],
  };
  evalForward.destroy();
  step.destroy();
  return { weights, summary };
}

/**
 * Loop counters a checkpoint keeps: the metrics line in progress (its first step, domain counts, GPU sums),
 * and the last logged loss and validation losses (what the summary reports).
 */
interface LoopState {
  sinceStep: number;
  counts: number[];
  metrics: number[];
  loss: number;
  validation: Record<string, number>;
  /** Wall time spent training up to this checkpoint, over every attempt. */
  seconds: number;
}

/** The failure for the first non-finite loss (`lossStep`) or weights (`weightStep`), 0 meaning none. */
async function notFinite(
  stage: string,
  lossStep: number,
  weightStep: number,
  dir: string,
): Promise<StageFailure> {
  const what = notFiniteCause(lossStep, weightStep);
  // a checkpoint is only written after the sums were checked, so one that exists is good
  const last = await lastCheckpoint(dir);
  const where = last ? `the last good checkpoint is in ${last}` : "no checkpoint was written";
  return new StageFailure(`stage ${stage}: ${what}; ${where}`);
}

async function checkpoint(
  ctx: TrainContext,
  step: TrainStep,
  sampler: Sampler,
  at: number,
  shapes: Map<string, readonly number[]>,
  loop: LoopState,
  base: BaseRef | undefined,
): Promise<void> {
  const c: Checkpoint = {
    step: at,
    weights: await step.store.download(),
    shapes,
    base,
    optimizer: await step.optimizerState(),
    sampler: sampler.state(),
    loop: { ...loop },
  };
  await saveCheckpoint(ctx.dir, c);
}

/** Writes the stage's adapters in the PEFT layout into `dir/adapter`. */
export async function saveAdapters(
  ctx: TrainContext,
  placements: Placement[],
  weights: Map<string, Float32Array>,
  scale: unknown,
): Promise<void> {
  // written beside and renamed into place, so a killed run never leaves a half-written adapter/
  const dir = `${ctx.dir}/adapter`;
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(ignoreNotFound);
  await saveAdapterFolder(tmp, stageAdapterFolder(ctx.spec, ctx.name, ctx.stage, placements, weights, scale));
  await Deno.remove(dir, { recursive: true }).catch(ignoreNotFound);
  await Deno.rename(tmp, dir);
}

function ignoreNotFound(e: unknown): void {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}

/** Per-domain gate histograms; values outside [0, 1] (an unclamped gate) are counted in below / above. */
function histograms(gates: Float32Array[], names: string[]): Record<string, GateBins> {
  const all = concatFloats(gates);
  const domain = Int32Array.from(gates.flatMap((g, d) => Array<number>(g.length).fill(d)));
  const out: Record<string, GateBins> = {};
  const edges = Array.from({ length: 11 }, (_, i) => i / 10);
  for (const h of gateHistogram(all, domain, names, 10)) {
    out[h.domain] = { edges, counts: h.bins, below: h.below, above: h.above };
  }
  return out;
}

interface GateBins {
  edges: number[];
  counts: number[];
  below: number;
  above: number;
}

/** Drops metric lines past `step` (written after the checkpoint a resume starts from). */
async function truncateMetrics(path: string, step: number): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const keep = text.split("\n").filter((l, i) =>
    l && (parseJson<{ step: number }>(l, `${path}:${i + 1}`).step as number) <= step
  );
  await Deno.writeTextFile(path, keep.map((l) => l + "\n").join(""));
}

function prefix(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${p}/${k}`, v]));
}

function round(x: number | undefined): number | null {
  return x === undefined ? null : Math.round(x * 1e4) / 1e4;
}

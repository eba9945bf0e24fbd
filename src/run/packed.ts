/**
 * Trains K compatible train stages (a sweep's variants) in one packed step and writes each variant's own
 * run folder as a stage run alone would: spec.json, metrics.jsonl, weights.safetensors, adapter/ and
 * summary.json. Packed runs keep no mid-run checkpoint: an interrupted pack starts again. A variant whose loss,
 * weights or Adam moments stop being finite stops being logged and never writes weights or summary.json
 * (nothing a cache could take); the others finish, then the run fails naming each failed variant and step.
 */
import { Forward } from "../compile/forward.ts";
import { packBatches, PackedTrainStep } from "../compile/packed_step.ts";
import { packWeights, unpackWeights } from "../compile/packing.ts";
import { ParamStore } from "../compile/param_store.ts";
import { domainSizes, Sampler } from "../data/mod.ts";
import { tokens } from "../models/config.ts";
import { buildModel } from "../models/graph.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { trainBatch } from "./batches.ts";
import { weightsFile } from "./checkpoint.ts";
import type { DomainCache } from "../compile/domains.ts";
import { appendJsonl, writeAtomic, writeJson } from "../files.ts";
import { notFiniteCause, notFiniteMetric } from "./finite.ts";
import type { Logger } from "./log.ts";
import { learningRate } from "./lr.ts";
import { checkPack, variantBuilds } from "./packed_compat.ts";
import { mixStrategy } from "../compile/stage_setup.ts";
import { stageModel } from "../compile/stage_model.ts";
import { saveAdapters, StageFailure, type TrainContext, type TrainResult } from "./train.ts";
import { initialWeights } from "../compile/stage_weights.ts";
import { validationLoss } from "./validation.ts";

/** One variant of a pack: train stage `name` of `spec`, written into `dir`. */
export interface PackedVariant {
  spec: PipelineSpec;
  name: string;
  dir: string;
  /** The variant's data (built from its own spec: the seed reshuffles some sources). */
  domains: DomainCache;
  /** Final weights of the stage's `from` stage; every variant's frozen weights must be the same. */
  start?: Map<string, Float32Array>;
}

/** Trains the variants together; returns each one's weights and summary, in order. */
export async function runPacked(
  device: GPUDevice,
  variants: readonly PackedVariant[],
  log: Logger,
): Promise<TrainResult[]> {
  const started = performance.now();
  checkPack(variants);
  for (const v of variants) await v.domains.load();
  const K = variants.length;
  const ctxs: TrainContext[] = variants.map((v) => ({
    device,
    spec: v.spec,
    name: v.name,
    stage: v.spec.stages[v.name] as TrainStage,
    dir: v.dir,
    domains: v.domains,
    start: v.start,
    resume: false,
    log,
  }));
  const first = ctxs[0].stage;
  const { steps, batch } = first;
  const model = variants[0].spec.model;
  const context = model.backbone === "lm" ? tokens(model) : 0;
  const names = first.mix.domains;
  const setups = ctxs.map((c) => {
    const sm = stageModel(c.spec, c.name, c.stage, c.domains);
    const domains = c.domains.all(names);
    const sizes = domainSizes(domains, context || undefined);
    const sampler = new Sampler({
      sizes,
      strategy: mixStrategy(c.stage.mix, steps, batch),
      steps,
      seed: c.spec.seed,
    });
    const gates = sm.gate ? domains.map((d) => sm.gate!.values(d, "train")) : undefined;
    const solo = buildModel(model, sm.build(batch, names.length, true));
    const shapes = new Map([...solo.params.values()].map((p) => [p.name, p.shape]));
    return { ...sm, domains, sizes, sampler, gates, shapes, counts: new Float64Array(names.length) };
  });
  const builds = variantBuilds(variants, true);
  const graph = buildModel(model, { ...builds[0], variants: builds.map((b) => b.lora!) });
  const [beta1, beta2] = first.optimizer.betas ?? [0.9, 0.999];
  const step = await PackedTrainStep.compile(device, graph, {
    beta1,
    beta2,
    eps: first.optimizer.eps ?? 1e-8,
    seeds: ctxs.map((c) => c.spec.seed),
  });
  step.store.upload(
    packWeights(graph, ctxs.map((c, k) => initialWeights(c, setups[k].placements, setups[k].shapes.keys()))),
  );
  // Validation reads the frozen weights from the pack's store; each variant owns only its trainable ones.
  const evals = await Promise.all(setups.map(async (s) => {
    const g = buildModel(model, s.build(batch, names.length, false));
    const own = [...g.params.values()].filter((p) => p.trainable);
    const store = new ParamStore(device, own.map((p) => ({ name: p.name, shape: p.shape, trainable: true })));
    const slots = { slot: (n: string) => (store.entries.has(n) ? store : step.store).slot(n) };
    return { store, forward: await Forward.compile(device, slots, g, [g.perExample]) };
  }));
  // GPU buffers go back however the run ends (a failed pack included)
  try {
    for (const c of ctxs) {
      await writeJson(`${c.dir}/spec.json`, {
        pipeline: c.spec.name,
        seed: c.spec.seed,
        stage: c.name,
        spec: c.stage,
        model: c.spec.model,
      });
      await Deno.writeTextFile(`${c.dir}/metrics.jsonl`, "");
    }

    const logEvery = first.logEvery ?? 10;
    const evalEvery = first.evalEvery ?? steps;
    const lastLoss = new Array<number>(K).fill(NaN);
    const lastVal: Record<string, number>[] = ctxs.map(() => ({}));
    // variant -> why it failed; a failed variant's numbers are not logged, validated nor saved
    const failed = new Map<number, string>();
    const variantName = (k: number) =>
      `stage ${ctxs[k].name} of ${ctxs[k].spec.name} (variant ${k + 1} of ${K})`;
    const fail = (k: number, cause: string) =>
      failed.set(
        k,
        `${variantName(k)}: ${cause}; no summary is written, its metrics so far are in ${ctxs[k].dir}`,
      );
    const failure = () => new StageFailure([...failed.values()].join("; "));
    let since = performance.now();
    let sinceStep = 0;
    const weightsOf = async () => {
      const all = await step.store.download();
      return setups.map((s, k) => unpackWeights(graph, all, k, s.shapes));
    };
    const validate = async (at: number) => {
      const weights = await weightsOf();
      for (let k = 0; k < K; k++) {
        if (failed.has(k)) continue;
        const { stage } = ctxs[k];
        evals[k].store.upload(
          new Map([...evals[k].store.entries.keys()].map((n) => [n, weights[k].get(n)!])),
        );
        const v: Record<string, number> = {};
        for (const name of stage.validation?.domains ?? names) {
          const d = ctxs[k].domains.get(name);
          const g = setups[k].gate && d.kind === "images"
            ? setups[k].gate!.values(d, "validation")
            : undefined;
          v[name] = await validationLoss(
            evals[k].forward,
            d,
            batch,
            context,
            stage.validation?.batches ?? 4,
            g,
          );
        }
        lastVal[k] = v;
        await appendJsonl(`${ctxs[k].dir}/metrics.jsonl`, { type: "eval", step: at, validationLoss: v });
      }
    };

    for (let s = 0; s < steps; s++) {
      const batches = setups.map((v) => {
        const draw = v.sampler.next(batch, s);
        for (const d of draw.domain) v.counts[d]++;
        return trainBatch(v.domains, draw, context, v.gates);
      });
      step.feed(packBatches(batches));
      const settings = ctxs.map((c) => ({
        lr: learningRate(c.stage.optimizer, s, steps),
        clip: c.stage.optimizer.clip,
        weightDecay: c.stage.optimizer.weightDecay ?? 0,
      }));
      step.run(settings);
      const done = s + 1;
      if (done % logEvery === 0 || done === steps) {
        const metrics = await step.drainMetrics();
        metrics.forEach((m, k) => {
          if (!failed.has(k) && (m.nanStep > 0 || m.weightStep > 0)) {
            fail(k, notFiniteCause(m.nanStep, m.weightStep));
          }
        });
        if (failed.size === K) throw failure();
        const now = performance.now();
        const samplesPerSec = (done - sinceStep) * batch * K / ((now - since) / 1000);
        for (let k = 0; k < K; k++) {
          const v = setups[k];
          if (failed.has(k)) {
            v.counts.fill(0);
            continue;
          }
          lastLoss[k] = metrics[k].loss / (done - sinceStep);
          const domainLoss: Record<string, number> = {};
          names.forEach((name, i) => {
            if (v.counts[i] > 0) domainLoss[name] = metrics[k].domainLoss[i] / v.counts[i];
          });
          v.counts.fill(0);
          const probs = v.sampler.probabilitiesAt(s);
          await appendJsonl(`${ctxs[k].dir}/metrics.jsonl`, {
            type: "train",
            step: done,
            loss: lastLoss[k],
            lr: settings[k].lr,
            temperature: v.sampler.temperatureAt(s),
            probabilities: Object.fromEntries(names.map((d, i) => [d, probs[i]])),
            domainLoss,
            epochs: Object.fromEntries(v.sampler.epochs().map((e, i) => [names[i], e])),
            samplesPerSec: samplesPerSec / K,
            packedSamplesPerSec: samplesPerSec,
          });
        }
        log.progress({
          stage: `pack of ${K}`,
          step: done,
          steps,
          loss: lastLoss[[...lastLoss.keys()].find((k) => !failed.has(k))!],
          samplesPerSec,
          stepsPerSec: samplesPerSec / batch / K,
          tokensPerSample: context || undefined,
          memoryBytes: step.memory().total,
        });
        since = now;
        sinceStep = done;
      }
      if (done % evalEvery === 0 || done === steps) await validate(done);
    }

    const weights = await weightsOf();
    const wallSeconds = Math.round(performance.now() - started) / 1000;
    const results: TrainResult[] = [];
    for (let k = 0; k < K; k++) {
      if (failed.has(k)) continue;
      const c = ctxs[k];
      const v = setups[k];
      const epochs = v.sampler.epochs();
      const summary = {
        stage: c.name,
        steps,
        // the pack's time: every variant trained through all of it
        wallSeconds,
        memoryBytes: step.memory().total,
        memory: step.memory(),
        packed: { variants: K, with: ctxs.map((o) => o.dir) },
        metrics: {
          loss: lastLoss[k],
          ...Object.fromEntries(Object.entries(lastVal[k]).map(([d, x]) => [`validation_loss/${d}`, x])),
        },
        epochs: Object.fromEntries(epochs.map((e, i) => [names[i], e])),
        qualityScale: v.gate?.scale,
        tables: [{
          title: `${c.name}: final validation loss per domain`,
          columns: ["domain", "examples", "epochs seen", "validation loss"],
          rows: Object.entries(lastVal[k]).map(([d, loss]) => {
            const i = names.indexOf(d);
            return [d, i >= 0 ? v.sizes[i] : null, i >= 0 ? round(epochs[i]) : null, round(loss)];
          }),
        }],
      };
      const bad = notFiniteMetric(summary);
      if (bad) {
        fail(k, bad);
        continue;
      }
      await writeAtomic(`${c.dir}/weights.safetensors`, weightsFile(weights[k], v.shapes));
      if (v.placements.length) await saveAdapters(c, v.placements, weights[k], v.gate?.scale);
      await writeJson(`${c.dir}/summary.json`, summary);
      log.line(`${variantName(k)}: done in ${wallSeconds} s`);
      results.push({ weights: weights[k], summary });
    }
    if (failed.size) throw failure();
    return results;
  } finally {
    for (const e of evals) {
      e.forward.destroy();
      e.store.destroy();
    }
    step.destroy();
  }
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

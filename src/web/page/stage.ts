/**
 * Trains one stage in the page: the loop of src/run/train.ts (same compiled step, sampler, batches, learning
 * rate and metric cadence, so the same seed gives the same losses), with the metric lines handed to the
 * page instead of metrics.jsonl, and the results kept in memory for download. A stop keeps the state;
 * `run` again goes on from the step it stopped at.
 */
import { Forward } from "../../compile/forward.ts";
import { TrainStep } from "../../compile/train_step.ts";
import type { DomainCache } from "../../compile/domains.ts";
import { mixStrategy } from "../../compile/stage_setup.ts";
import { stageModel } from "../../compile/stage_model.ts";
import { initialWeights, stageAdapterFolder } from "../../compile/stage_weights.ts";
import type { AdapterFolder } from "../../adapters/adapter_folder.ts";
import { domainSizes, Sampler } from "../../data/mod.ts";
import { isCausal, tokens } from "../../models/config.ts";
import { buildModel } from "../../models/graph.ts";
import type { PipelineSpec, TrainStage } from "../../spec/types.ts";
import { type GateTable, trainBatch } from "../../run/batches.ts";
import { notFiniteCause } from "../../run/finite.ts";
import { learningRate } from "../../run/lr.ts";
import { validationLoss } from "../../run/validation.ts";

/** One metric line, as src/run/train.ts writes it to metrics.jsonl. */
export type MetricLine =
  | {
    type: "train";
    step: number;
    loss: number;
    lr: number;
    temperature: number | null;
    probabilities: Record<string, number>;
    domainLoss: Record<string, number>;
    samplesPerSec: number;
  }
  | { type: "eval"; step: number; validationLoss: Record<string, number> };

/** A finished stage: its final weights, summary and adapter folder (none without adapters). */
export interface StageResult {
  weights: Map<string, Float32Array>;
  summary: Record<string, unknown>;
  adapter?: AdapterFolder;
}

/** A training stage compiled on the page's device, run in slices between stops. */
export class PageStage {
  #stop = false;
  #next = 0;
  #since = 0;
  #seconds = 0;
  #lastLoss = NaN;
  #lastVal: Record<string, number> = {};

  private constructor(
    readonly name: string,
    private readonly spec: PipelineSpec,
    private readonly stage: TrainStage,
    private readonly domains: DomainCache,
    private readonly step: TrainStep,
    private readonly evalForward: Forward,
    private readonly sampler: Sampler,
    private readonly setup: ReturnType<typeof stageModel>,
    private readonly gates: GateTable,
  ) {}

  /** Compiles the stage and uploads its starting weights (`start`: the `from` stage's). */
  static async compile(
    device: GPUDevice,
    spec: PipelineSpec,
    name: string,
    domains: DomainCache,
    start?: Map<string, Float32Array>,
  ): Promise<PageStage> {
    const stage = spec.stages[name];
    if (stage?.kind !== "train") throw new Error(`stage ${name} is not a train stage`);
    if (typeof stage.from === "object") {
      throw new Error(
        `stage ${name} starts from a folder on disk; the page runs stages that start from none`,
      );
    }
    const names = stage.mix.domains;
    await domains.load([...names, ...(stage.validation?.domains ?? [])]);
    const model = spec.model;
    const context = isCausal(model) ? tokens(model) : 0;
    const all = domains.all(names);
    const setup = stageModel(spec, name, stage, domains);
    const gates: GateTable = setup.gate ? all.map((d) => setup.gate!.values(d, "train")) : undefined;
    const graph = buildModel(model, setup.build(stage.batch, names.length, true));
    const o = stage.optimizer;
    const [beta1, beta2] = o.betas ?? [0.9, 0.999];
    const step = await TrainStep.compile(device, graph, {
      beta1,
      beta2,
      eps: o.eps ?? 1e-8,
      weightDecay: o.weightDecay ?? 0,
      clip: o.clip,
      seed: spec.seed,
      frozenDtype: stage.frozenDtype,
    });
    const evalGraph = buildModel(model, setup.build(stage.batch, names.length, false));
    const evalForward = await Forward.compile(device, step.store, evalGraph, [evalGraph.perExample]);
    const sampler = new Sampler({
      sizes: domainSizes(all, context || undefined),
      strategy: mixStrategy(stage.mix, stage.steps, stage.batch),
      steps: stage.steps,
      seed: spec.seed,
    });
    step.store.upload(initialWeights({ spec, start }, setup.placements, graph.params.keys()));
    return new PageStage(name, spec, stage, domains, step, evalForward, sampler, setup, gates);
  }

  /** Steps done so far. */
  get done(): number {
    return this.#next;
  }

  /** Asks `run` to return at the next metrics line before the last step (a stop before `run` counts too). */
  stop(): void {
    this.#stop = true;
  }

  /**
   * Trains from the current step until the last (returns the result) or a stop (returns undefined);
   * `onLine` gets each metric line as it is made. A non-finite loss or weight throws.
   */
  async run(onLine: (line: MetricLine) => void): Promise<StageResult | undefined> {
    const { stage, spec, step, sampler } = this;
    const names = stage.mix.domains;
    const all = this.domains.all(names);
    const context = isCausal(spec.model) ? tokens(spec.model) : 0;
    const counts = new Float64Array(names.length);
    const logEvery = stage.logEvery ?? 10;
    const evalEvery = stage.evalEvery ?? stage.steps;
    const validation = (stage.validation?.domains ?? names).map((n) => this.domains.get(n));
    const gate = this.setup.gate;
    const started = performance.now();
    let since = started;
    for (let s = this.#next; s < stage.steps; s++) {
      const draw = sampler.next(stage.batch, s);
      for (const d of draw.domain) counts[d]++;
      step.feed(trainBatch(all, draw, context, this.gates));
      step.run(learningRate(stage.optimizer, s, stage.steps));
      const done = s + 1;
      this.#next = done;
      if (done % logEvery === 0 || done === stage.steps) {
        const m = await step.drainMetrics();
        if (m.nanStep > 0 || m.weightStep > 0) {
          throw new Error(`stage ${this.name}: ${notFiniteCause(m.nanStep, m.weightStep)}`);
        }
        const n = done - this.#since;
        const now = performance.now();
        this.#lastLoss = m.loss / n;
        const domainLoss: Record<string, number> = {};
        names.forEach((d, i) => {
          if (counts[i] > 0) domainLoss[d] = m.domainLoss[i] / counts[i];
        });
        counts.fill(0);
        const probs = sampler.probabilitiesAt(s);
        onLine({
          type: "train",
          step: done,
          loss: this.#lastLoss,
          lr: learningRate(stage.optimizer, s, stage.steps),
          temperature: sampler.temperatureAt(s),
          probabilities: Object.fromEntries(names.map((d, i) => [d, probs[i]])),
          domainLoss,
          samplesPerSec: n * stage.batch / ((now - since) / 1000),
        });
        since = now;
        this.#since = done;
      }
      if (done % evalEvery === 0 || done === stage.steps) {
        const v: Record<string, number> = {};
        for (const d of validation) {
          const g = gate && d.kind === "images" ? gate.values(d, "validation") : undefined;
          v[d.name] = await validationLoss(
            this.evalForward,
            d,
            stage.batch,
            context,
            stage.validation?.batches ?? 4,
            g,
          );
        }
        this.#lastVal = v;
        onLine({ type: "eval", step: done, validationLoss: v });
      }
      // a stop waits for the metric line in progress, so a resumed run logs the same lines
      if (this.#stop && done % logEvery === 0 && done < stage.steps) {
        this.#stop = false;
        this.#seconds += (performance.now() - started) / 1000;
        return undefined;
      }
    }
    this.#seconds += (performance.now() - started) / 1000;
    return await this.#finish();
  }

  async #finish(): Promise<StageResult> {
    const weights = await this.step.store.download();
    const { placements, gate } = this.setup;
    const names = this.stage.mix.domains;
    const epochs = this.sampler.epochs();
    const summary = {
      stage: this.name,
      steps: this.stage.steps,
      wallSeconds: this.#seconds,
      memoryBytes: this.step.memory().total,
      metrics: {
        loss: this.#lastLoss,
        ...Object.fromEntries(Object.entries(this.#lastVal).map(([k, v]) => [`validation_loss/${k}`, v])),
      },
      epochs: Object.fromEntries(epochs.map((e, i) => [names[i], e])),
      qualityScale: gate?.scale,
    };
    const adapter = placements.length
      ? stageAdapterFolder(this.spec, this.name, this.stage, placements, weights, gate?.scale)
      : undefined;
    this.evalForward.destroy();
    this.step.destroy();
    return { weights, summary, adapter };
  }
}

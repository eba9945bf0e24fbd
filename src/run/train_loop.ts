/**
 * The training loop of a stage, one for the CLI (src/run/train.ts) and the page (src/web/page/stage.ts):
 * compiles the step and the validation forward, replays the step over sampled batches with the learning-rate
 * schedule, drains the metrics every `logEvery` steps, validates every `evalEvery`, and hands metric lines
 * and checkpoints to its caller. It reads and writes no files (no `Deno`), so it runs in a browser; where
 * the lines and checkpoints go (a run folder, the page's memory and IndexedDB) is the caller's.
 */
import { gateHistogram, type Placement } from "../adapters/mod.ts";
import type { DomainCache } from "../compile/domains.ts";
import { Forward } from "../compile/forward.ts";
import { mixStrategy, stageFrozen, type StageGate } from "../compile/stage_setup.ts";
import { stageModel } from "../compile/stage_model.ts";
import { TrainStep } from "../compile/train_step.ts";
import { domainSizes, Sampler } from "../data/mod.ts";
import { isCausal, tokens } from "../models/config.ts";
import { buildModel, type ModelGraph } from "../models/graph.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { type GateTable, trainBatch } from "./batches.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { concatFloats } from "./_concat.ts";
import { notFiniteCause } from "./finite.ts";
import type { Progress } from "./log.ts";
import { learningRate } from "./lr.ts";
import { validationLoss } from "./validation.ts";

/** A stage stopped: a non-finite loss, or a failure while running; partial results stay where they were. */
export class StageFailure extends Error {
  override name = "StageFailure";
}

/** One metric line, as metrics.jsonl holds it. */
export type MetricLine =
  | {
    type: "train";
    step: number;
    loss: number;
    lr: number;
    temperature: number | null;
    probabilities: Record<string, number>;
    domainLoss: Record<string, number>;
    epochs: Record<string, number>;
    samplesPerSec: number;
  }
  | { type: "eval"; step: number; validationLoss: Record<string, number> }
  | { type: "gate"; step: number; histogram: Record<string, GateBins> };

/** One domain's histogram of gate values; values outside [0, 1] (an unclamped gate) count in below / above. */
export interface GateBins {
  edges: number[];
  counts: number[];
  below: number;
  above: number;
}

/**
 * Loop counters a checkpoint keeps: the metrics line in progress (its first step, domain counts, GPU sums),
 * and the last logged loss and validation losses (what the summary reports).
 */
export interface LoopState {
  sinceStep: number;
  counts: number[];
  metrics: number[];
  loss: number;
  validation: Record<string, number>;
  /** Wall time spent training up to this checkpoint, over every attempt. */
  seconds: number;
}

/** Where the loop's output goes. */
export interface LoopHooks {
  /** Each metric line, as it is made (awaited before the loop goes on). */
  line(line: MetricLine): Promise<void> | void;
  /** Progress after each train line. */
  progress?(p: Progress): void;
  /** A checkpoint every `checkpointEvery` steps before the last, and at a stop; its sums were checked. */
  checkpoint?(c: Checkpoint): Promise<void>;
  /** The error to throw for a non-finite loss or weights (`what` says which and at which step). */
  failure?(what: string): Promise<Error>;
  /** Whether to stop: asked after each metrics line before the last step. */
  stop?(): boolean;
}

/** A training stage compiled on a device: its step, validation forward, sampler and loop counters. */
export class TrainLoop {
  readonly names: string[];
  readonly context: number;
  #sinceStep = 0;
  readonly #counts: Float64Array;
  #lastLoss = NaN;
  #lastVal: Record<string, number> = {};
  /** Training seconds of earlier attempts (up to the checkpoint restored from). */
  #priorSeconds = 0;
  /** Training seconds of this attempt's `run` calls. */
  #seconds = 0;
  #done = 0;

  private constructor(
    readonly name: string,
    readonly spec: PipelineSpec,
    readonly stage: TrainStage,
    private readonly domains: DomainCache,
    /** The training graph: its parameters are the weights a stage starts from. */
    readonly graph: ModelGraph,
    readonly step: TrainStep,
    private readonly evalForward: Forward,
    private sampler: Sampler,
    readonly placements: Placement[],
    readonly gate: StageGate | undefined,
    readonly gates: GateTable,
  ) {
    this.names = stage.mix.domains;
    this.context = isCausal(spec.model) ? tokens(spec.model) : 0;
    this.#counts = new Float64Array(this.names.length);
  }

  /** Compiles the stage `name` of `spec` (its domains loaded in `domains`); weights are the caller's to upload. */
  static async compile(
    device: GPUDevice,
    spec: PipelineSpec,
    name: string,
    domains: DomainCache,
  ): Promise<TrainLoop> {
    const stage = spec.stages[name];
    if (stage?.kind !== "train") throw new Error(`stage ${name} is not a train stage`);
    const model = spec.model;
    const context = isCausal(model) ? tokens(model) : 0;
    const names = stage.mix.domains;
    const all = domains.all(names);
    const { placements, gate, build: options } = stageModel(spec, name, stage, domains);
    const gates: GateTable = gate ? all.map((d) => gate.values(d, "train")) : undefined;
    // with gradient accumulation the step (and validation) run a micro-batch at a time
    const accumulate = stage.accumulate ?? 1;
    const micro = stage.batch / accumulate;
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
    const evalGraph = buildModel(model, options(micro, names.length, false));
    const evalForward = await Forward.compile(device, step.store, evalGraph, [evalGraph.perExample]);
    const sampler = new Sampler({
      sizes: domainSizes(all, context || undefined),
      strategy: mixStrategy(stage.mix, stage.steps, stage.batch),
      steps: stage.steps,
      seed: spec.seed,
    });
    return new TrainLoop(
      name,
      spec,
      stage,
      domains,
      graph,
      step,
      evalForward,
      sampler,
      placements,
      gate,
      gates,
    );
  }

  /** Steps done so far. */
  get done(): number {
    return this.#done;
  }

  /** Training seconds over every attempt and `run` call so far. */
  get seconds(): number {
    return this.#priorSeconds + this.#seconds;
  }

  /** Shapes of the stage's parameters by name (for weights files). */
  get shapes(): Map<string, readonly number[]> {
    return new Map([...this.graph.params.values()].map((p) => [p.name, p.shape]));
  }

  /**
   * Continues from a checkpoint: optimizer, sampler and the metrics line in progress, so the next line
   * covers the same steps as a run that never stopped. The weights are the caller's to upload.
   */
  restore(saved: Checkpoint): void {
    this.step.restoreOptimizer(saved.optimizer);
    this.sampler = Sampler.restore(saved.sampler);
    this.#done = saved.step;
    const loop = saved.loop as Partial<LoopState>;
    this.#sinceStep = loop.sinceStep ?? saved.step;
    this.#counts.fill(0);
    if (loop.counts) this.#counts.set(loop.counts);
    if (loop.metrics?.length) this.step.restoreMetrics(Float32Array.from(loop.metrics));
    // a kill after the final checkpoint: the summary is built from what that checkpoint kept
    if (typeof loop.loss === "number") this.#lastLoss = loop.loss;
    if (loop.validation) this.#lastVal = loop.validation;
    if (typeof loop.seconds === "number") this.#priorSeconds = loop.seconds;
    this.#seconds = 0;
  }

  /** The first line of a gated stage's metrics: each domain's histogram of gate values; none without a gate. */
  gateLine(): MetricLine | undefined {
    if (!this.gates) return undefined;
    const all = concatFloats(this.gates);
    const domain = Int32Array.from(this.gates.flatMap((g, d) => Array<number>(g.length).fill(d)));
    const histogram: Record<string, GateBins> = {};
    const edges = Array.from({ length: 11 }, (_, i) => i / 10);
    for (const h of gateHistogram(all, domain, this.names, 10)) {
      histogram[h.domain] = { edges, counts: h.bins, below: h.below, above: h.above };
    }
    return { type: "gate", step: 0, histogram };
  }

  /**
   * Trains from the current step to the last (true) or to a stop (false, after a checkpoint). A non-finite
   * loss or weights throws `hooks.failure`'s error.
   */
  async run(hooks: LoopHooks): Promise<boolean> {
    const { stage, step, names, context } = this;
    const steps = stage.steps;
    const batch = stage.batch;
    const o = stage.optimizer;
    const all = this.domains.all(names);
    const counts = this.#counts;
    const logEvery = stage.logEvery ?? 10;
    const evalEvery = stage.evalEvery ?? steps;
    const checkpointEvery = stage.checkpointEvery ?? steps;
    const accumulate = stage.accumulate ?? 1;
    const micro = batch / accumulate;
    const validationDomains = (stage.validation?.domains ?? names).map((n) => this.domains.get(n));
    // the same windows as `batches` batches of `batch` examples, a micro-batch at a time
    const validationBatches = (stage.validation?.batches ?? 4) * accumulate;
    const fail = (what: string) =>
      hooks.failure?.(what) ?? Promise.resolve(new StageFailure(`stage ${this.name}: ${what}`));
    const started = performance.now();
    const took = () => (performance.now() - started) / 1000;
    let since = started;
    try {
      for (let s = this.#done; s < steps; s++) {
        const sampler = this.sampler;
        const draw = sampler.next(batch, s);
        for (const d of draw.domain) counts[d]++;
        step.feed(trainBatch(all, draw, context, this.gates));
        step.run(learningRate(o, s, steps));
        const done = s + 1;
        this.#done = done;
        if (done % logEvery === 0 || done === steps) {
          const m = await step.drainMetrics();
          if (m.nanStep > 0 || m.weightStep > 0) throw await fail(notFiniteCause(m.nanStep, m.weightStep));
          const n = done - this.#sinceStep;
          const now = performance.now();
          this.#lastLoss = m.loss / n;
          const domainLoss: Record<string, number> = {};
          names.forEach((name, i) => {
            if (counts[i] > 0) domainLoss[name] = m.domainLoss[i] / counts[i];
          });
          counts.fill(0);
          const samplesPerSec = n * batch / ((now - since) / 1000);
          const probs = sampler.probabilitiesAt(s);
          await hooks.line({
            type: "train",
            step: done,
            loss: this.#lastLoss,
            lr: learningRate(o, s, steps),
            temperature: sampler.temperatureAt(s),
            probabilities: Object.fromEntries(names.map((d, i) => [d, probs[i]])),
            domainLoss,
            epochs: Object.fromEntries(sampler.epochs().map((e, i) => [names[i], e])),
            samplesPerSec,
          });
          hooks.progress?.({
            stage: this.name,
            step: done,
            steps,
            loss: this.#lastLoss,
            samplesPerSec,
            stepsPerSec: samplesPerSec / batch,
            tokensPerSample: context || undefined,
            memoryBytes: step.memory().total,
          });
          since = now;
          this.#sinceStep = done;
        }
        if (done % evalEvery === 0 || done === steps) {
          const v: Record<string, number> = {};
          for (const d of validationDomains) {
            const g = this.gate && d.kind === "images" ? this.gate.values(d, "validation") : undefined;
            v[d.name] = await validationLoss(this.evalForward, d, micro, context, validationBatches, g);
          }
          this.#lastVal = v;
          await hooks.line({ type: "eval", step: done, validationLoss: v });
        }
        // a stop waits for the metrics line in progress, so a resumed run logs the same lines
        const stopping = done < steps && done % logEvery === 0 && (hooks.stop?.() ?? false);
        if (done < steps && (done % checkpointEvery === 0 || stopping) && hooks.checkpoint) {
          // the loss is read back only every logEvery steps: never checkpoint weights made by a non-finite step
          const sums = await step.metricsState();
          if (sums[62] > 0 || sums[61] > 0) throw await fail(notFiniteCause(sums[62], sums[61]));
          await hooks.checkpoint(await this.checkpoint([...sums], this.#seconds + took()));
        }
        if (stopping) return false;
      }
      return true;
    } finally {
      this.#seconds += took();
    }
  }

  /**
   * A checkpoint at the current step: weights, optimizer, sampler and loop counters (`metrics`: the GPU
   * sums of the line in progress; none after the last step). `seconds`: this attempt's training time.
   */
  async checkpoint(metrics: number[] = [], seconds = this.#seconds): Promise<Checkpoint> {
    const loop: LoopState = {
      sinceStep: this.#sinceStep,
      counts: [...this.#counts],
      metrics,
      loss: this.#lastLoss,
      validation: this.#lastVal,
      seconds: this.#priorSeconds + seconds,
    };
    return {
      step: this.#done,
      weights: await this.step.store.download(),
      shapes: this.shapes,
      optimizer: await this.step.optimizerState(),
      sampler: this.sampler.state(),
      loop: { ...loop },
    };
  }

  /**
   * The stage's summary: final loss and validation losses, epochs, memory, and its table.
   * `wallSeconds` is the time before this attempt (the caller adds this attempt's).
   */
  summary(): Record<string, unknown> {
    const { names, step } = this;
    const sizes = domainSizes(this.domains.all(names), this.context || undefined);
    const epochs = this.sampler.epochs();
    const validationDomains = (this.stage.validation?.domains ?? names).map((n) => this.domains.get(n));
    return {
      stage: this.name,
      steps: this.stage.steps,
      // the pipeline adds this attempt's time to that of the attempts before a resume
      wallSeconds: this.#priorSeconds,
      memoryBytes: step.memory().total,
      memory: step.memory(),
      metrics: { loss: this.#lastLoss, ...prefix("validation_loss", this.#lastVal) },
      epochs: Object.fromEntries(epochs.map((e, i) => [names[i], e])),
      qualityScale: this.gate?.scale,
      tables: [{
        title: `${this.name}: final validation loss per domain`,
        columns: ["domain", "examples", "epochs seen", "validation loss"],
        rows: validationDomains.map((d) => {
          const i = names.indexOf(d.name);
          return [
            d.name,
            i >= 0 ? sizes[i] : null,
            i >= 0 ? round(epochs[i]) : null,
            round(this.#lastVal[d.name]),
          ];
        }),
      }],
    };
  }

  /** Frees the GPU buffers of the step and the validation forward. */
  destroy(): void {
    this.evalForward.destroy();
    this.step.destroy();
  }
}

function prefix(p: string, o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [`${p}/${k}`, v]));
}

function round(x: number | undefined): number | null {
  return x === undefined ? null : Math.round(x * 1e4) / 1e4;
}

/**
 * Trains one stage in the page: the loop of src/run/train_loop.ts (the CLI's own, so the same seed gives the
 * same losses), with the metric lines handed to the page instead of metrics.jsonl, checkpoints handed to the
 * page's store, and the results kept in memory for download. A stop keeps the state; `run` again goes on from
 * the step it stopped at, and a stage compiled from a saved checkpoint goes on from that one's step.
 */
import type { DomainCache } from "../../compile/domains.ts";
import { initialWeights, stageAdapterFolder } from "../../compile/stage_weights.ts";
import type { AdapterFolder } from "../../adapters/adapter_folder.ts";
import type { PipelineSpec } from "../../spec/types.ts";
import type { Checkpoint } from "../../run/checkpoint.ts";
import { type MetricLine, TrainLoop } from "../../run/train_loop.ts";

export type { MetricLine };

/** A finished stage: its final weights, summary and adapter folder (none without adapters). */
export interface StageResult {
  weights: Map<string, Float32Array>;
  summary: Record<string, unknown>;
  adapter?: AdapterFolder;
}

/** A training stage compiled on the page's device, run in slices between stops. */
export class PageStage {
  #stop = false;

  private constructor(readonly name: string, private readonly loop: TrainLoop) {}

  /**
   * Compiles the stage and uploads its starting weights: the saved checkpoint's when one is given (the
   * stage goes on from its step), else the `from` stage's (`start`) or the seeded ones.
   */
  static async compile(
    device: GPUDevice,
    spec: PipelineSpec,
    name: string,
    domains: DomainCache,
    start?: Map<string, Float32Array>,
    saved?: Checkpoint,
  ): Promise<PageStage> {
    const stage = spec.stages[name];
    if (stage?.kind !== "train") throw new Error(`stage ${name} is not a train stage`);
    if (typeof stage.from === "object") {
      throw new Error(
        `stage ${name} starts from a folder on disk; the page runs stages that start from none`,
      );
    }
    await domains.load([...stage.mix.domains, ...(stage.validation?.domains ?? [])]);
    const loop = await TrainLoop.compile(device, spec, name, domains);
    if (saved) {
      loop.step.store.upload(saved.weights);
      loop.restore(saved);
    } else {
      loop.step.store.upload(initialWeights({ spec, start }, loop.placements, loop.graph.params.keys()));
    }
    return new PageStage(name, loop);
  }

  /** Steps done so far. */
  get done(): number {
    return this.loop.done;
  }

  /** Training seconds so far, over every attempt (those before a reload included). */
  get seconds(): number {
    return this.loop.seconds;
  }

  /** The gate histograms line a gated stage starts its metrics with. */
  gateLine(): MetricLine | undefined {
    return this.loop.gateLine();
  }

  /** Asks `run` to return at the next metrics line before the last step (a stop before `run` counts too). */
  stop(): void {
    this.#stop = true;
  }

  /**
   * Trains from the current step until the last (returns the result) or a stop (returns undefined, after
   * handing `onCheckpoint` a checkpoint of that step). `onLine` gets each metric line as it is made,
   * `onCheckpoint` each checkpoint (every `checkpointEvery` steps, and at a stop). A non-finite loss or
   * weight throws.
   */
  async run(
    onLine: (line: MetricLine) => void,
    onCheckpoint?: (c: Checkpoint) => Promise<void>,
  ): Promise<StageResult | undefined> {
    const finished = await this.loop.run({
      line: onLine,
      checkpoint: onCheckpoint,
      stop: () => {
        const stop = this.#stop;
        this.#stop = false;
        return stop;
      },
    });
    return finished ? await this.#finish() : undefined;
  }

  async #finish(): Promise<StageResult> {
    const { loop } = this;
    const weights = await loop.step.store.download();
    // the page has no pipeline around the stage to add this attempt's time: the loop's total is the stage's
    const summary = { ...loop.summary(), wallSeconds: loop.seconds };
    const adapter = loop.placements.length
      ? stageAdapterFolder(loop.spec, this.name, loop.stage, loop.placements, weights, loop.gate?.scale)
      : undefined;
    loop.destroy();
    return { weights, summary, adapter };
  }
}

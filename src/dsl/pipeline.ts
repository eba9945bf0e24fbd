/** The immutable pipeline builder: each call returns a new builder, and `build()` validates the result. */

import type { ModelConfig } from "../models/config.ts";
import { messages } from "../spec/messages.ts";
import { joinPath, PipelineError } from "../spec/problem.ts";
import type {
  DomainSpec,
  PipelineSpec,
  SourceSpec,
  StageSpec,
  StartFolder,
  TrainStage,
  TransformSpec,
} from "../spec/types.ts";
import { validatePipeline } from "../spec/validate.ts";
import {
  type JobResources,
  type SweepAxes,
  type SweepMode,
  type SweepSpec,
  validateSweep,
} from "../spec/sweep.ts";

/**
 * `unknown` when `N` is a new name, `never` (a type error) when it is one of `Taken`; any name passes once
 * names are plain strings (see `PipelineBuilder.dynamic`), and `build()` checks them.
 */
export type Fresh<N extends string, Taken extends string> = string extends Taken ? unknown
  : [N] extends [Taken] ? never
  : unknown;

/** The type of a stage's `from`: a literal name, `string`, or `undefined` when it has none. */
export type FromOf<X> = X extends { from?: infer F } ? F : undefined;
/** The type of a train stage's mix domains: literal names, or `string` when not known. */
export type MixDomainsOf<X> = X extends { mix: { domains: (infer M)[] } } ? M : string;

/**
 * Type-level checks of a stage's references: `from` must name an earlier train stage and the mix domains
 * declared domains. Names typed only as `string` (built at run time) are left to `build()` to check.
 */
export type References<X, D extends string, T extends string> =
  & (string extends FromOf<X> ? unknown : { from?: T | StartFolder })
  & (string extends MixDomainsOf<X> ? unknown : { mix: { domains: D[] } });

/** How a sweep combines its axes, and what each stage run's Slurm job asks for. */
export interface SweepOptions {
  /** `grid` (every combination, the default) or `zip` (the axes advance together). */
  mode?: SweepMode;
  /** Slurm resources per stage kind (`train`, `evaluate`, `export`) or per stage name. */
  resources?: Record<string, JobResources>;
}

/** The pipeline so far: plain data, not yet validated. */
export interface PipelineDraft {
  /** The pipeline's name. */
  name: string;
  /** The seed every random choice derives from. */
  seed?: number;
  /** Data domains by name. */
  domains: Readonly<Record<string, DomainSpec>>;
  /** The model every stage trains or evaluates. */
  model?: ModelConfig;
  /** Stages by name, in declaration order. */
  stages: Readonly<Record<string, StageSpec>>;
}

/**
 * Builds a pipeline spec. Domain names (`D`), train stage names (`T`) and all stage names (`S`) are tracked
 * in the type, so a `from` or mix domain that does not exist yet, or a name used twice, is a type error.
 * To add stages in a loop, switch to plain string names with `dynamic()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamw, lm, lmLoss, pipeline, temperature, train, udhr } from "../../mod.ts";
 * const base = pipeline("branches").seed(0).domain("en", udhr("eng")).domain("sw", udhr("swh"))
 *   .model(lm({ context: 16, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }));
 * const step = { loss: lmLoss(), optimizer: adamw({ lr: 1e-3 }), steps: 10, batch: 4 };
 * // builders are immutable: both branches share `base` unchanged
 * const a = base.stage("t1", train({ ...step, mix: temperature(["en", "sw"], 1) }));
 * const b = base.stage("t5", train({ ...step, mix: temperature(["en", "sw"], 5) }));
 * assert.deepEqual(Object.keys(a.build().stages), ["t1"]);
 * assert.deepEqual(Object.keys(b.build().stages), ["t5"]);
 * ```
 */
export class PipelineBuilder<D extends string = never, T extends string = never, S extends string = never> {
  readonly #draft: PipelineDraft;
  readonly #sweep?: SweepOptions & { axes: SweepAxes };

  /** Use `pipeline(name)` to start one. */
  constructor(draft: PipelineDraft, sweep?: SweepOptions & { axes: SweepAxes }) {
    this.#draft = Object.freeze({ ...draft });
    this.#sweep = sweep;
  }

  /** Sets the seed every random choice derives from. */
  seed(seed: number): PipelineBuilder<D, T, S> {
    return new PipelineBuilder({ ...this.#draft, seed }, this.#sweep);
  }

  /** Adds a domain: a source and the transforms applied to it, in order. */
  domain<const N extends string>(
    name: N & Fresh<N, D>,
    source: SourceSpec,
    ...transforms: TransformSpec[]
  ): PipelineBuilder<D | N, T, S> {
    if (Object.hasOwn(this.#draft.domains, name)) {
      throw new PipelineError([{
        path: joinPath("domains", name),
        message: messages.duplicateName("domain", name),
      }]);
    }
    // copies, so that changing an argument later cannot change this builder
    const domain: DomainSpec = structuredClone(transforms.length > 0 ? { source, transforms } : { source });
    return new PipelineBuilder(
      { ...this.#draft, domains: { ...this.#draft.domains, [name]: domain } },
      this.#sweep,
    );
  }

  /** Sets the model every stage trains or evaluates. */
  model(config: ModelConfig): PipelineBuilder<D, T, S> {
    return new PipelineBuilder({ ...this.#draft, model: structuredClone(config) }, this.#sweep);
  }

  /** Adds a stage; stages run in declaration order, each after the stage it starts `from`. */
  stage<const N extends string, X extends StageSpec>(
    name: N & Fresh<N, S>,
    stage: X & References<X, D, T>,
  ): PipelineBuilder<D, X extends TrainStage ? T | N : T, S | N> {
    if (Object.hasOwn(this.#draft.stages, name)) {
      throw new PipelineError([{
        path: joinPath("stages", name),
        message: messages.duplicateName("stage", name),
      }]);
    }
    const stages = { ...this.#draft.stages, [name]: structuredClone(stage as StageSpec) };
    return new PipelineBuilder({ ...this.#draft, stages }, this.#sweep);
  }

  /**
   * Declares a sweep: each axis, a spec path (or `seed`), takes each of its values; `grid` (default) runs
   * every combination, `zip` the i-th values together. `deno task sweep` runs it; `build()` ignores it.
   */
  sweep(axes: SweepAxes, options: SweepOptions = {}): PipelineBuilder<D, T, S> {
    return new PipelineBuilder(this.#draft, structuredClone({ ...options, axes }));
  }

  /** The declared sweep, validated against the built pipeline; undefined when none was declared. */
  sweepSpec(): SweepSpec | undefined {
    if (this.#sweep === undefined) return undefined;
    const { mode, axes, resources } = this.#sweep;
    return validateSweep(this.build(), {
      axes,
      ...(mode === undefined ? {} : { mode }),
      ...(resources === undefined ? {} : { resources }),
    });
  }

  /**
   * This builder with domain and stage names typed as plain strings, so stages (or domains) can be added in
   * a loop: each call returns the same type. Names are then checked by `build()` instead of the compiler.
   *
   * @example
   * ```ts
   * import { adamw, dictionary, lm, lmLoss, pipeline, split, temperature, train } from "../../mod.ts";
   * let builder = pipeline("temperatures")
   *   .seed(1)
   *   .domain("el", dictionary("el"), split(0.05))
   *   .domain("vi", dictionary("vi"), split(0.05))
   *   .model(lm({ context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 2 }))
   *   .dynamic();
   * for (const t of [1, 5, 100]) {
   *   builder = builder.stage(`t${t}`, train({
   *     mix: temperature(["el", "vi"], t),
   *     loss: lmLoss(),
   *     optimizer: adamw({ lr: 1e-3 }),
   *     steps: 240,
   *     batch: 32,
   *   }));
   * }
   * console.log(Object.keys(builder.build().stages)); // ["t1", "t5", "t100"]
   * ```
   */
  dynamic(): PipelineBuilder<string, string, string> {
    return new PipelineBuilder(this.#draft);
  }

  /** The pipeline so far, unvalidated (for inspection or to finish by hand). */
  draft(): PipelineDraft {
    return structuredClone(this.#draft);
  }

  /** Validates the pipeline and returns its spec with every default filled; throws a `PipelineError`. */
  build(): PipelineSpec {
    return validatePipeline(structuredClone(this.#draft));
  }
}

/**
 * Starts a pipeline.
 *
 * @example
 * ```ts
 * import { adamw, cooldown, dictionary, lm, lmLoss, pipeline, split, take, temperature, train } from "./mod.ts";
 * const spec = pipeline("cooldown")
 *   .seed(1)
 *   .domain("el", dictionary("el"), take(20_000), split(0.05))
 *   .domain("vi", dictionary("vi"), split(0.05))
 *   .model(lm({ context: 32, dim: 64, depth: 2, heads: 4, mlpRatio: 4 }))
 *   .stage("t1", train({
 *     mix: temperature(["el", "vi"], cooldown(5, 1, 0.5)),
 *     loss: lmLoss(),
 *     optimizer: adamw({ lr: 1e-3 }),
 *     steps: 1500,
 *     batch: 32,
 *   }))
 *   .build();
 * console.log(Object.keys(spec.stages)); // ["t1"]
 * ```
 */
export function pipeline(name: string): PipelineBuilder {
  return new PipelineBuilder({ name, domains: {}, stages: {} });
}

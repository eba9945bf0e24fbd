/** Builders for data mixtures and temperature schedules. */

import type {
  ConstantSchedule,
  MixSpec,
  RampSchedule,
  SchedulePhase,
  ScheduleSpec,
  StepSchedule,
} from "../spec/types.ts";

/** A mix whose domain names are known to the type checker, so a stage can check them against the pipeline. */
export type MixOf<M extends string> = MixSpec & { domains: M[] };

/**
 * Temperature sampling: domain i is drawn with probability |D_i|^(1/T) / sum_j |D_j|^(1/T).
 * T = 1 (the default) is proportional, large T near uniform; a schedule changes T over the stage.
 *
 * @example
 * ```ts
 * import { cooldown, temperature } from "./mix.ts";
 * const mix = temperature(["el", "vi"], cooldown(5, 1, 0.5));
 * console.log(mix.temperature); // { kind: "step", phases: [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }] }
 * ```
 */
export function temperature<const M extends string>(
  domains: readonly M[],
  value?: number | ScheduleSpec,
): MixOf<M> {
  const mix: MixOf<M> = { domains: [...domains], strategy: "temperature" };
  if (value !== undefined) mix.temperature = value;
  return mix;
}

/**
 * Scalarization: sample proportionally and weight each example's loss by p(i; T) / p(i; 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scalarization } from "../../mod.ts";
 * assert.deepEqual(scalarization(["el", "vi"], 5), { domains: ["el", "vi"], strategy: "scalarization", temperature: 5 });
 * ```
 */
export function scalarization<const M extends string>(
  domains: readonly M[],
  value?: number | ScheduleSpec,
): MixOf<M> {
  const mix: MixOf<M> = { domains: [...domains], strategy: "scalarization" };
  if (value !== undefined) mix.temperature = value;
  return mix;
}

/**
 * UniMax: a uniform budget over domains, each capped at `epochCap` epochs (default 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unimax } from "../../mod.ts";
 * assert.deepEqual(unimax(["el", "vi"], { epochCap: 2 }), { domains: ["el", "vi"], strategy: "unimax", epochCap: 2 });
 * ```
 */
export function unimax<const M extends string>(
  domains: readonly M[],
  options: { epochCap?: number } = {},
): MixOf<M> {
  const mix: MixOf<M> = { domains: [...domains], strategy: "unimax" };
  if (options.epochCap !== undefined) mix.epochCap = options.epochCap;
  return mix;
}

/**
 * Explicit sampling probabilities per domain; they must sum to 1 unless `normalize` is set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { weights } from "../../mod.ts";
 * assert.deepEqual(weights({ el: 0.7, vi: 0.3 }), { domains: ["el", "vi"], strategy: "weights", weights: { el: 0.7, vi: 0.3 } });
 * ```
 */
export function weights<const M extends string>(
  probabilities: Readonly<Record<M, number>>,
  options: { normalize?: boolean } = {},
): MixOf<M> {
  const mix: MixOf<M> = {
    domains: Object.keys(probabilities) as M[],
    strategy: "weights",
    weights: { ...probabilities },
  };
  if (options.normalize !== undefined) mix.normalize = options.normalize;
  return mix;
}

/**
 * The same temperature for the whole stage.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { constantSchedule } from "../../mod.ts";
 * assert.deepEqual(constantSchedule(5), { kind: "constant", temperature: 5 });
 * ```
 */
export function constantSchedule(value: number): ConstantSchedule {
  return { kind: "constant", temperature: value };
}

/**
 * Piecewise-constant temperatures; each phase lasts `until` a fraction of the steps, the last until 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stepSchedule } from "../../mod.ts";
 * const schedule = stepSchedule([{ until: 0.3, temperature: 10 }, { until: 1, temperature: 2 }]);
 * assert.deepEqual(schedule.phases.map((p) => p.temperature), [10, 2]);
 * ```
 */
export function stepSchedule(phases: readonly SchedulePhase[]): StepSchedule {
  return { kind: "step", phases: phases.map((p) => ({ until: p.until, temperature: p.temperature })) };
}

/**
 * Cooldown: a high temperature for the first part of the stage, then a low one. `cooldown(5, 1, 0.5)` is
 * T = 5 for the first half and T = 1 for the second, the schedule the balanced-training paper found best.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cooldown } from "../../mod.ts";
 * assert.deepEqual(cooldown(5, 1, 0.5), {
 *   kind: "step",
 *   phases: [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }],
 * });
 * ```
 */
export function cooldown(high: number, low: number, switchAt: number): StepSchedule {
  return stepSchedule([{ until: switchAt, temperature: high }, { until: 1, temperature: low }]);
}

/**
 * A temperature moving linearly from `from` to `to` over the stage.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearSchedule } from "../../mod.ts";
 * assert.deepEqual(linearSchedule(10, 1), { kind: "linear", from: 10, to: 1 });
 * ```
 */
export function linearSchedule(from: number, to: number): RampSchedule {
  return { kind: "linear", from, to };
}

/**
 * A temperature moving from `from` to `to` along a half cosine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cosineSchedule } from "../../mod.ts";
 * assert.deepEqual(cosineSchedule(10, 1), { kind: "cosine", from: 10, to: 1 });
 * ```
 */
export function cosineSchedule(from: number, to: number): RampSchedule {
  return { kind: "cosine", from, to };
}

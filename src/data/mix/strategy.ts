/** Mixing strategies: how domains are drawn and how each example's loss is weighted. */

import { MixError } from "../errors.ts";
import { checkSchedule, temperatureAt, type TemperatureSchedule } from "./schedule.ts";
import { checkSizes, temperatureProbabilities, weightProbabilities } from "./temperature.ts";
import { unimaxProbabilities } from "./unimax.ts";

/**
 * A mixing strategy (plain JSON).
 * - `temperature`: draw domain i with p(i; T(step)); loss weight 1.
 * - `scalarization`: draw with p(i; 1); loss weight p(i; T(step)) / p(i; 1).
 * - `weights`: fixed probabilities (summing to 1, or relative when `normalize`).
 * - `unimax`: uniform over domains with an `epochs` cap, from a `budget` of examples (steps x batch).
 */
export type MixStrategy =
  | { kind: "temperature"; schedule: TemperatureSchedule }
  | { kind: "scalarization"; schedule: TemperatureSchedule }
  | { kind: "weights"; weights: number[]; normalize?: boolean }
  | { kind: "unimax"; budget: number; epochs: number };

/** Throws a MixError naming the first problem of `strategy` for domains of `sizes`. */
export function checkStrategy(strategy: MixStrategy, sizes: readonly number[]): void {
  checkSizes(sizes);
  switch (strategy.kind) {
    case "temperature":
    case "scalarization":
      checkSchedule(strategy.schedule);
      return;
    case "weights":
      weightProbabilities(sizes, strategy.weights, strategy.normalize ?? false);
      return;
    case "unimax":
      unimaxProbabilities(sizes, strategy.budget, strategy.epochs);
      return;
    default:
      throw new MixError(
        `strategy kind must be "temperature", "scalarization", "weights" or "unimax", found ${
          JSON.stringify((strategy as { kind: unknown }).kind)
        }`,
      );
  }
}

/** What a strategy does at one step: draw probabilities and the loss weight of an example of each domain. */
export interface MixAt {
  /** Probability of drawing each domain. */
  probabilities: number[];
  /** Loss weight of an example from each domain (1 except for scalarization). */
  weights: number[];
  /** The temperature in force, or null for strategies without one. */
  temperature: number | null;
}

/** The draw probabilities and loss weights of `strategy` at 0-based `step` of `steps`. */
export function mixAt(strategy: MixStrategy, sizes: readonly number[], step: number, steps: number): MixAt {
  const ones = sizes.map(() => 1);
  switch (strategy.kind) {
    case "temperature": {
      const t = temperatureAt(strategy.schedule, step, steps);
      return { probabilities: temperatureProbabilities(sizes, t), weights: ones, temperature: t };
    }
    case "scalarization": {
      const t = temperatureAt(strategy.schedule, step, steps);
      const proportional = temperatureProbabilities(sizes, 1);
      const target = temperatureProbabilities(sizes, t);
      return {
        probabilities: proportional,
        weights: target.map((p, i) => p / proportional[i]),
        temperature: t,
      };
    }
    case "weights":
      return {
        probabilities: weightProbabilities(sizes, strategy.weights, strategy.normalize ?? false),
        weights: ones,
        temperature: null,
      };
    case "unimax":
      return {
        probabilities: unimaxProbabilities(sizes, strategy.budget, strategy.epochs),
        weights: ones,
        temperature: null,
      };
    default:
      checkStrategy(strategy, sizes);
      throw new MixError("unreachable");
  }
}

/** True when the draw probabilities can change from step to step. */
export function isScheduled(strategy: MixStrategy): boolean {
  return (strategy.kind === "temperature" || strategy.kind === "scalarization") &&
    strategy.schedule.kind !== "constant";
}

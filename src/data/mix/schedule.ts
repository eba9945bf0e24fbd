/**
 * Temperature schedules over one stage of `steps` optimiser steps (0-based step s in [0, steps)).
 *
 * Step phases: step s uses the first phase whose switch step round(until * steps) is greater than s, so a
 * phase ending at `until` hands over at exactly s = round(until * steps) (Math.round: halves round up).
 * Cooldown (T = 5 until 0.5, then 1) over 100 steps: steps 0..49 use T = 5, steps 50..99 use T = 1.
 * Linear and cosine schedules run from `from` at step 0 to `to` at step steps - 1.
 */

import { MixError } from "../errors.ts";
import { checkTemperature } from "./temperature.ts";

/** One phase of a step schedule: `temperature` until the fraction `until` of the stage. */
export interface TemperaturePhase {
  /** Fraction of the stage, in (0, 1], where this phase ends; the last phase must end at 1. */
  until: number;
  temperature: number;
}

/** How the sampling temperature moves over a stage. */
export type TemperatureSchedule =
  | { kind: "constant"; temperature: number }
  | { kind: "step"; phases: TemperaturePhase[] }
  | { kind: "linear"; from: number; to: number }
  | { kind: "cosine"; from: number; to: number };

/** A constant temperature. */
export function constantSchedule(temperature: number): TemperatureSchedule {
  return { kind: "constant", temperature };
}

/** Cooldown (the paper's best schedule): `high` until fraction `at`, then `low`; defaults 5, 1, 0.5. */
export function cooldownSchedule(high = 5, low = 1, at = 0.5): TemperatureSchedule {
  return { kind: "step", phases: [{ until: at, temperature: high }, { until: 1, temperature: low }] };
}

/** Throws a MixError naming the first problem of a schedule. */
export function checkSchedule(schedule: TemperatureSchedule): void {
  switch (schedule.kind) {
    case "constant":
      checkTemperature(schedule.temperature, "schedule temperature");
      return;
    case "linear":
    case "cosine":
      checkTemperature(schedule.from, `${schedule.kind} schedule "from"`);
      checkTemperature(schedule.to, `${schedule.kind} schedule "to"`);
      return;
    case "step": {
      const phases = schedule.phases;
      if (!Array.isArray(phases) || phases.length === 0) {
        throw new MixError("step schedule needs at least one phase, found none");
      }
      let previous = 0;
      phases.forEach((phase, i) => {
        checkTemperature(phase.temperature, `phases[${i}].temperature`);
        if (typeof phase.until !== "number" || !(phase.until > previous) || phase.until > 1) {
          throw new MixError(
            `phases[${i}].until must be in (${previous}, 1] (fractions must increase), found ${phase.until}`,
          );
        }
        previous = phase.until;
      });
      if (previous !== 1) {
        throw new MixError(`the last phase must end at until: 1, found ${previous}`);
      }
      return;
    }
    default:
      throw new MixError(
        `schedule kind must be "constant", "step", "linear" or "cosine", found ${
          JSON.stringify((schedule as { kind: unknown }).kind)
        }`,
      );
  }
}

/** The step at which each phase of a step schedule ends (exclusive): round(until * steps). */
export function phaseBoundaries(phases: readonly TemperaturePhase[], steps: number): number[] {
  return phases.map((p) => Math.round(p.until * steps));
}

function checkStep(step: number, steps: number): void {
  if (!Number.isSafeInteger(steps) || steps <= 0) {
    throw new MixError(`steps must be a positive integer, found ${steps}`);
  }
  if (!Number.isSafeInteger(step) || step < 0 || step >= steps) {
    throw new MixError(`step must be an integer in [0, ${steps}), found ${step}`);
  }
}

/** The temperature at 0-based `step` of a stage of `steps` steps. */
export function temperatureAt(schedule: TemperatureSchedule, step: number, steps: number): number {
  checkSchedule(schedule);
  checkStep(step, steps);
  const t = steps > 1 ? step / (steps - 1) : 0;
  switch (schedule.kind) {
    case "constant":
      return schedule.temperature;
    case "linear":
      return schedule.from + (schedule.to - schedule.from) * t;
    case "cosine":
      return schedule.to + (schedule.from - schedule.to) * 0.5 * (1 + Math.cos(Math.PI * t));
    case "step": {
      const ends = phaseBoundaries(schedule.phases, steps);
      for (let i = 0; i < ends.length; i++) if (step < ends[i]) return schedule.phases[i].temperature;
      return schedule.phases[schedule.phases.length - 1].temperature; // unreachable: last end is steps
    }
  }
}

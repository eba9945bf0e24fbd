/**
 * What the plan computes, held to what a run can do: finite mix probabilities, kernels that can be
 * dispatched, buffers the device can allocate and bind (`PlanLimits`: the adapter's own, a profile or a
 * file). Problems name the spec key to change, so `--plan` fails with exit 2 before anything runs.
 */
import { PipelineError } from "../spec/problem.ts";
import type { Extremes } from "./_extremes.ts";
import { limitBytes, type PlanLimits, WEBGPU_DEFAULT_LIMITS } from "./limits.ts";

/** A PipelineError for `path` (`model.dim`, `stages.ft.batch`). */
export function planProblem(path: string, message: string): PipelineError {
  return new PipelineError([{ path, message }]);
}

/** Why a program with these extremes does not fit `limits`, or undefined when it fits. */
export function overLimit(
  e: Extremes,
  limits: PlanLimits,
): { text: string; holds: string } | undefined {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const at = (name: string) => `(${name} of ${limits.source})`;
  if (e.largestBinding > limits.maxStorageBufferBindingSize) {
    return {
      text: `needs a buffer binding of ${mib(e.largestBinding)} (${e.bindingHolds}); a binding is at most ` +
        `${limitBytes(limits.maxStorageBufferBindingSize)} ${at("maxStorageBufferBindingSize")}`,
      holds: e.bindingHolds,
    };
  }
  if (e.largestBuffer > limits.maxBufferSize) {
    return {
      text: `needs a buffer of ${mib(e.largestBuffer)} (${e.largestHolds}); a buffer is at most ` +
        `${limitBytes(limits.maxBufferSize)} ${at("maxBufferSize")}`,
      holds: e.largestHolds,
    };
  }
  if (e.largestGroups > limits.maxComputeWorkgroupsPerDimension) {
    return {
      text: `has a kernel that needs ${e.largestGroups.toLocaleString("en-US")} workgroups along one axis; ` +
        `at most ${limits.maxComputeWorkgroupsPerDimension.toLocaleString("en-US")} can be dispatched ` +
        at("maxComputeWorkgroupsPerDimension"),
      holds: "workgroups",
    };
  }
  return undefined;
}

/** Throws when a binding, buffer or dispatch of the stage's step exceeds `limits`. */
export function checkStepLimits(
  stage: string,
  extremes: Extremes,
  limits: PlanLimits = WEBGPU_DEFAULT_LIMITS,
): void {
  const over = overLimit(extremes, limits);
  if (!over) return;
  const batchy = over.holds === "activations" || over.holds === "inputs";
  const path = batchy ? `stages.${stage}.batch` : "model.dim";
  // micro-batches shrink each activation; recomputation keeps fewer of them, none smaller
  const use = batchy ? "use a smaller batch or model, or micro-batches (accumulate)" : "use a smaller model";
  throw planProblem(path, `the step ${over.text}: ${use}`);
}

/** Throws unless every probability of the mix is finite (a temperature near 0 can make them NaN). */
export function checkProbabilities(stage: string, step: number, probabilities: readonly number[]): void {
  if (probabilities.every(Number.isFinite)) return;
  throw planProblem(
    `stages.${stage}.mix.temperature`,
    `the mix probabilities at step ${step} are not finite numbers (${probabilities.join(", ")}); ` +
      "use a larger temperature",
  );
}

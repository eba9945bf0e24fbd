/**
 * What the plan computes, held to what a run can do: finite mix probabilities, kernels that can be
 * dispatched, buffers an adapter can bind. Problems name the spec key to change, so `--plan` fails with
 * exit 2 before any device is touched.
 */
import { PipelineError } from "../spec/problem.ts";
import type { StepExtremes } from "./train_step.ts";

/**
 * The limits every step is planned against: WebGPU's defaults, which are also what Mesa lavapipe offers
 * (maxStorageBufferBindingSize 128 MiB, maxComputeWorkgroupsPerDimension 65,535).
 */
export const PLAN_LIMITS = { bindingBytes: 128 * 1024 * 1024, groupsPerAxis: 65535 } as const;

/** A PipelineError for `path` (`model.dim`, `stages.ft.batch`). */
export function planProblem(path: string, message: string): PipelineError {
  return new PipelineError([{ path, message }]);
}

/** Throws when a buffer or a dispatch of the stage's step exceeds `PLAN_LIMITS`. */
export function checkStepLimits(stage: string, extremes: StepExtremes): void {
  const { largestBuffer, largestHolds, largestGroups } = extremes;
  if (largestBuffer > PLAN_LIMITS.bindingBytes) {
    const mib = (largestBuffer / 2 ** 20).toFixed(1);
    const path = largestHolds === "activations" || largestHolds === "inputs"
      ? `stages.${stage}.batch`
      : "model.dim";
    throw planProblem(
      path,
      `the step needs a buffer of ${mib} MiB (${largestHolds}); a GPU buffer binds at most 128 MiB: ` +
        `use a smaller ${path === "model.dim" ? "model" : "batch or model"}`,
    );
  }
  if (largestGroups > PLAN_LIMITS.groupsPerAxis) {
    throw planProblem(
      "model.dim",
      `a kernel of the step needs ${largestGroups.toLocaleString("en-US")} workgroups along one axis; ` +
        "at most 65,535 can be dispatched: use a smaller model",
    );
  }
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

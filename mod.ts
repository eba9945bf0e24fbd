/**
 * mixtune: parameter-efficient fine-tuning experiments as typed pipelines, compiled to WGSL and run on
 * WebGPU. Write a pipeline with the builder (or YAML), validate and plan it, then run it.
 *
 * @example
 * ```ts
 * import { adamw, cosface, mnist, pipeline, split, temperature, train, vit } from "./mod.ts";
 *
 * const spec = pipeline("digits")
 *   .seed(0)
 *   .domain("hr", mnist([0, 1, 2]), split(0.1))
 *   .model(vit({ image: 28, patch: 7, dim: 32, depth: 2, heads: 2, mlpRatio: 2, embedDim: 16, classes: 3 }))
 *   .stage("pretrain", train({
 *     mix: temperature(["hr"]),
 *     loss: cosface({ scale: 16, margin: 0.2 }),
 *     optimizer: adamw({ lr: 1e-3 }),
 *     steps: 100,
 *     batch: 32,
 *   }))
 *   .build();
 * console.log(Object.keys(spec.stages)); // ["pretrain"]
 * ```
 *
 * @module
 */
export * from "./src/dsl/mod.ts";
export type * from "./src/spec/types.ts";
export { PipelineError, type Problem, type SourceLocation } from "./src/spec/problem.ts";
export { type SourceMap, type ValidateOptions, validatePipeline } from "./src/spec/validate.ts";
export { loadPipelineYaml } from "./src/spec/yaml.ts";
export { hashSpec, stageHash, stageOrder, type StageStep } from "./src/spec/hash.ts";
export {
  type CheckpointPlan,
  type PipelinePlan,
  planPipeline,
  type StagePlan,
} from "./src/compile/pipeline_plan.ts";
export type { JobResources, SweepAxes, SweepMode, SweepSpec } from "./src/spec/sweep.ts";
export type { SweepOptions } from "./src/dsl/pipeline.ts";
export type { StepMemory } from "./src/compile/train_step.ts";
export type { ForwardMemory } from "./src/compile/forward_plan.ts";
export {
  LIMIT_PROFILES,
  limitsFrom,
  limitsInUse,
  type PlanLimits,
  WEBGPU_DEFAULT_LIMITS,
} from "./src/compile/limits.ts";
export { GpuError } from "./src/gpu/errors.ts";
export {
  type RunOptions,
  runPipeline,
  type RunResult,
  stageOf,
  type StageRecord,
} from "./src/run/pipeline.ts";
export { consoleLogger, type Logger, type Progress } from "./src/run/log.ts";
export { runScript, scriptExitCode, ScriptUsageError } from "./src/cli/script.ts";
export { type MergedModel, mergeStage, writeHfCheckpoint } from "./src/export/mod.ts";
export { writeReport } from "./src/report/write_report.ts";

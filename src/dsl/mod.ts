/**
 * The typed pipeline builder and the small constructors that go with it. A pipeline built here is the same
 * plain spec a YAML file gives.
 *
 * @module
 */

export {
  type Fresh,
  type FromOf,
  type MixDomainsOf,
  pipeline,
  PipelineBuilder,
  type PipelineDraft,
  type References,
} from "./pipeline.ts";
export {
  degrade,
  dictionary,
  fraction,
  images,
  jsonl,
  mixQuality,
  mnist,
  parquet,
  split,
  take,
  text,
  udhr,
} from "./data.ts";
export {
  constantSchedule,
  cooldown,
  cosineSchedule,
  linearSchedule,
  type MixOf,
  scalarization,
  stepSchedule,
  temperature,
  unimax,
  weights,
} from "./mix.ts";
export {
  adamw,
  arcface,
  cosface,
  evaluate,
  type EvaluateOptions,
  exportOnnx,
  gate,
  lmLoss,
  lora,
  type LoraOptions,
  petalfaceGate,
  sharpness,
  softmax,
  train,
  type TrainOf,
  type TrainOptions,
} from "./train.ts";
export { lm, pretrained, vit } from "./model.ts";

/**
 * The pipeline spec: types, YAML loading with positions, validation that reports every problem, defaults,
 * canonical JSON and hashes.
 *
 * @module
 */

export type * from "./types.ts";
export { PipelineError, type Problem, type SourceLocation } from "./problem.ts";
export { describe, messages } from "./messages.ts";
export { checkPipeline, type SourceMap, type ValidateOptions, validatePipeline } from "./validate.ts";
export { DEFAULTS, withDefaults } from "./defaults.ts";
export { loadPipelineYaml, parseYaml, type YamlDocument } from "./yaml.ts";
export {
  canonicalJson,
  hashSpec,
  sha256Hex,
  stageDomains,
  stageHash,
  stageOrder,
  type StageStep,
} from "./hash.ts";

/**
 * ONNX export of ViT embedding models with their LoRA adapters, and onnxruntime-node (CPU) runs, parity
 * checks and chunked evaluation of the exported models.
 *
 * @module
 */

export { ONNX_IR_VERSION, ONNX_OPSET, type OnnxExportOptions, vitToOnnx, writeOnnx } from "./onnx.ts";
export {
  openSession,
  type OrtEmbeddingOptions,
  type OrtEmbeddings,
  ortEmbeddings,
  type OrtOptions,
  type OrtTensor,
  parity,
  type ParityResult,
  runOnnx,
} from "./ort.ts";
export { loraDelta, mergeLora } from "./merge.ts";
export { isGated, validateLora, validateVitWeights, vitParameterShapes } from "./_validate.ts";
export { ExportError } from "./errors.ts";
export {
  HF_CONFIG_FILE,
  HF_MODEL_FILE,
  MIXTUNE_ARCHITECTURES,
  mixtuneHfConfig,
  writeHfCheckpoint,
} from "./hf_layout.ts";
export { type MergedModel, mergeStage } from "./merge_stage.ts";
export type { HostTensor, LoraModule, LoraSet, Weights } from "./types.ts";

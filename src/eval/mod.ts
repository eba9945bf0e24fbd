/**
 * Evaluation metrics computed on the CPU from model outputs: classification accuracy, rank-1
 * identification and verification TAR at fixed FAR.
 *
 * @module
 */

export { accuracy } from "./classification.ts";
export {
  classMeans,
  EvalError,
  type Gallery,
  l2Normalize,
  type LabelledEmbeddings,
  rank1Accuracy,
  type VerificationOptions,
  type VerificationPoint,
  type VerificationResult,
  verificationTar,
} from "./recognition.ts";

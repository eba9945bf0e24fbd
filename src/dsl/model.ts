/** Builders for model configurations. */

import type { LmConfig, PretrainedConfig, VitConfig } from "../models/config.ts";

/**
 * A vision transformer: `vit({ image: 28, patch: 7, dim: 64, depth: 4, heads: 4, mlpRatio: 2, embedDim: 32, classes: 10 })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vit } from "../../mod.ts";
 * const config = vit({ image: 28, patch: 7, dim: 32, depth: 2, heads: 2, mlpRatio: 2, embedDim: 16, classes: 10 });
 * assert.equal(config.backbone, "vit");
 * ```
 */
export function vit(options: Omit<VitConfig, "backbone">): VitConfig {
  return { backbone: "vit", ...options };
}

/**
 * A causal byte-level language model: `lm({ context: 64, dim: 128, depth: 4, heads: 4, mlpRatio: 4 })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lm } from "../../mod.ts";
 * assert.deepEqual(lm({ context: 32, dim: 64, depth: 2, heads: 4, mlpRatio: 4 }), {
 *   backbone: "lm",
 *   context: 32,
 *   dim: 64,
 *   depth: 2,
 *   heads: 4,
 *   mlpRatio: 4,
 * });
 * ```
 */
export function lm(options: Omit<LmConfig, "backbone">): LmConfig {
  return { backbone: "lm", ...options };
}

/**
 * A model from a Hugging Face checkpoint folder: a causal LM (GPT-2, Llama, Mistral, Qwen2) trained over
 * `context` tokens, `pretrained("models/tiny-gpt2", { context: 64 })`, or a ViT whose CLS features feed the
 * pipeline's cosine head of `classes` classes, `pretrained("models/vit-tiny", { classes: 10 })`. Adapter
 * patterns use its Hugging Face module paths (`transformer.h.*.attn.c_attn`, `query`, `value`).
 */
export function pretrained(
  dir: string,
  options: { context: number } | { classes: number },
): PretrainedConfig {
  return { backbone: "pretrained", pretrained: dir, ...options };
}

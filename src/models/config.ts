/** Model configurations and the module paths that adapter patterns match. */
import { readPretrainedConfig } from "./pretrained/checkpoint.ts";
import type { PretrainedArch, PretrainedLmArch, VitArch } from "./pretrained/arch.ts";
import { pretrainedLinears } from "./pretrained/tensors.ts";

/** A vision transformer over single-channel square images, pooled by the mean over tokens. */
export interface VitConfig {
  /** Selects the vision transformer. */
  backbone: "vit";
  /** Image side in pixels (28 for mnist). */
  image: number;
  /** Patch side in pixels; `image` must be a multiple of it (28 / 7 = 4x4 = 16 tokens). */
  patch: number;
  /** Width of the residual stream. */
  dim: number;
  /** Transformer blocks. */
  depth: number;
  /** Attention heads; `dim` must be a multiple of it. */
  heads: number;
  /** Hidden width of each MLP, as a multiple of `dim`. */
  mlpRatio: number;
  /** Size of the embedding after the `feature` projection. */
  embedDim: number;
  /** Classes of the `head`; the head is a cosine classifier (no bias). */
  classes: number;
}

/** A causal transformer language model over bytes, or over the ids of the domains' tokenizer. */
export interface LmConfig {
  /** Selects the byte-level language model. */
  backbone: "lm";
  /** Context length in tokens (bytes without a tokenizer). */
  context: number;
  /** Vocabulary size: 256 (bytes, the default), or the tokenizer's when the text domains have one. */
  vocab?: number;
  /** Width of the residual stream. */
  dim: number;
  /** Transformer blocks. */
  depth: number;
  /** Attention heads; `dim` must be a multiple of it. */
  heads: number;
  /** Hidden width of each MLP, as a multiple of `dim`. */
  mlpRatio: number;
}

/**
 * A model from a Hugging Face checkpoint folder: a causal LM (GPT-2, Llama, Mistral, Qwen2) or a ViT
 * (ViTModel, ViTForImageClassification); its sizes come from the folder's config.json, its module paths
 * are Hugging Face's.
 */
export interface PretrainedConfig {
  /** Selects a model read from a Hugging Face checkpoint folder. */
  backbone: "pretrained";
  /** The checkpoint folder. */
  pretrained: string;
  /** Tokens per example (at most the model's positions); language models only. */
  context?: number;
  /** Classes of the pipeline's cosine `head` over the CLS features; ViT only (its `classifier` is not used). */
  classes?: number;
}

/** The model a pipeline trains: a ViT, a byte-level (or tokenizer-level) LM, or a pretrained checkpoint. */
export type ModelConfig = VitConfig | LmConfig | PretrainedConfig;

/** The architecture of a pretrained model config, from its config.json (read each time: it is small). */
export function pretrainedArch(config: PretrainedConfig): PretrainedArch {
  return readPretrainedConfig(config.pretrained).arch;
}

/** The ViT architecture of a pretrained model config, or undefined for a language model's. */
export function pretrainedVit(config: ModelConfig): VitArch | undefined {
  if (config.backbone !== "pretrained") return undefined;
  const arch = pretrainedArch(config);
  return arch.family === "vit" ? arch : undefined;
}

/** The language-model architecture of a pretrained model config; throws for a ViT. */
export function pretrainedLm(config: PretrainedConfig): PretrainedLmArch {
  const arch = pretrainedArch(config);
  if (arch.family === "vit") throw new TypeError(`${config.pretrained} is a vit model, not a language model`);
  return arch;
}

/** Whether a model reads images (the built-in ViT, or a pretrained ViT) rather than token ids. */
export function isImageModel(config: ModelConfig): boolean {
  return config.backbone === "vit" || pretrainedVit(config) !== undefined;
}

/** Whether a model is a causal language model over token ids (labels are next tokens). */
export function isCausal(config: ModelConfig): config is LmConfig | PretrainedConfig {
  return !isImageModel(config);
}

/** Image side in pixels of an image model: the built-in ViT's `image`, or the checkpoint's image_size. */
export function imageSide(config: ModelConfig): number | undefined {
  return config.backbone === "vit" ? config.image : pretrainedVit(config)?.image;
}

/** Ids a causal model reads and predicts: the built-in LM's `vocab` (256 bytes by default), or the checkpoint's. */
export function vocabSize(config: LmConfig | PretrainedConfig): number {
  return config.backbone === "lm" ? config.vocab ?? 256 : pretrainedLm(config).vocab;
}

/** A linear layer of a model: `y = x W^T + b`, with `W` stored as [out, in] (PyTorch and PEFT order). */
export interface LinearModule {
  path: string;
  in: number;
  out: number;
  bias: boolean;
}

/** Every linear layer of a model, in forward order; these are the paths adapter patterns select from. */
export function linearModules(config: ModelConfig): LinearModule[] {
  const vit = pretrainedVit(config);
  if (vit) {
    // the pipeline's head replaces `classifier`
    const head = { path: "head", in: vit.dim, out: (config as PretrainedConfig).classes ?? 0, bias: false };
    return [...pretrainedLinears(vit).filter((m) => m.path !== "classifier"), head];
  }
  if (config.backbone === "pretrained") return pretrainedLinears(pretrainedArch(config));
  const d = config.dim;
  const hidden = d * config.mlpRatio;
  const out: LinearModule[] = [];
  if (config.backbone === "vit") {
    out.push({ path: "patch_embed", in: config.patch * config.patch, out: d, bias: true });
  }
  for (let i = 0; i < config.depth; i++) {
    out.push({ path: `blocks.${i}.attn.qkv`, in: d, out: 3 * d, bias: true });
    out.push({ path: `blocks.${i}.attn.proj`, in: d, out: d, bias: true });
    out.push({ path: `blocks.${i}.mlp.fc1`, in: d, out: hidden, bias: true });
    out.push({ path: `blocks.${i}.mlp.fc2`, in: hidden, out: d, bias: true });
  }
  if (config.backbone === "vit") {
    out.push({ path: "feature", in: d, out: config.embedDim, bias: true });
    out.push({ path: "head", in: config.embedDim, out: config.classes, bias: false });
  } else {
    out.push({ path: "lm_head", in: d, out: vocabSize(config), bias: true });
  }
  return out;
}

/** Number of tokens a model sees per example. */
export function tokens(config: ModelConfig): number {
  if (config.backbone === "vit") return (config.image / config.patch) ** 2;
  const vit = pretrainedVit(config);
  if (vit) return (vit.image / vit.patch) ** 2 + 1; // and the CLS token
  if (config.context === undefined) throw new TypeError("a pretrained language model needs a context");
  return config.context;
}

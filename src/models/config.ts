/** Model configurations and the module paths that adapter patterns match. */

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

/** A causal transformer language model over bytes. */
export interface LmConfig {
  /** Selects the byte-level language model. */
  backbone: "lm";
  /** Context length in bytes. */
  context: number;
  /** Width of the residual stream. */
  dim: number;
  /** Transformer blocks. */
  depth: number;
  /** Attention heads; `dim` must be a multiple of it. */
  heads: number;
  /** Hidden width of each MLP, as a multiple of `dim`. */
  mlpRatio: number;
}

/** The model a pipeline trains: a ViT or a byte-level LM. */
export type ModelConfig = VitConfig | LmConfig;

/** A linear layer of a model: `y = x W^T + b`, with `W` stored as [out, in] (PyTorch and PEFT order). */
export interface LinearModule {
  path: string;
  in: number;
  out: number;
  bias: boolean;
}

/** Every linear layer of a model, in forward order; these are the paths adapter patterns select from. */
export function linearModules(config: ModelConfig): LinearModule[] {
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
    out.push({ path: "lm_head", in: d, out: 256, bias: true });
  }
  return out;
}

/** Number of tokens a model sees per example. */
export function tokens(config: ModelConfig): number {
  return config.backbone === "vit" ? (config.image / config.patch) ** 2 : config.context;
}

/**
 * The architectures a Hugging Face `config.json` may name, parsed into the few numbers mixtune's graphs
 * need. Settings that would change the computation in ways the graphs do not implement are refused.
 */
import { PretrainedError } from "./errors.ts";
import type { VitPreprocess } from "./preprocessor.ts";

/** GPT-2: learned positions, pre-LayerNorm blocks, Conv1D layers stored [in, out], tied lm_head. */
export interface Gpt2Arch {
  family: "gpt2";
  vocab: number;
  /** Longest context the position table covers (n_positions). */
  positions: number;
  dim: number;
  depth: number;
  heads: number;
  /** MLP hidden width (n_inner, default 4 dim). */
  inner: number;
  eps: number;
}

/** The Llama family (Llama, Mistral, Qwen2): RMSNorm, rotary positions, SwiGLU, grouped-query attention. */
export interface LlamaArch {
  family: "llama";
  modelType: "llama" | "mistral" | "qwen2";
  vocab: number;
  positions: number;
  dim: number;
  depth: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  inner: number;
  eps: number;
  ropeTheta: number;
  tied: boolean;
  /** Biases on q_proj, k_proj and v_proj (Qwen2, or Llama's attention_bias; o_proj too for Llama). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
}

/**
 * ViT (ViTModel, ViTForImageClassification): a Conv2d patch embedding, a CLS token and learned positions,
 * pre-LayerNorm blocks; the representation is the CLS token after the final layernorm.
 */
export interface VitArch {
  family: "vit";
  /** Image side in pixels (image_size). */
  image: number;
  patch: number;
  channels: number;
  dim: number;
  depth: number;
  heads: number;
  inner: number;
  eps: number;
  /** "erf": the exact GELU (hidden_act "gelu"); "tanh": gelu_new and gelu_pytorch_tanh. */
  gelu: "erf" | "tanh";
  qkvBias: boolean;
  /** Classes of `classifier` (ViTForImageClassification, from id2label), 0 for ViTModel. */
  labels: number;
  /** Prefix of the backbone's module paths: "vit." under ViTForImageClassification, "" for ViTModel. */
  prefix: "vit." | "";
  /** preprocessor_config.json's resize and normalisation, when the folder has one (set by the reader). */
  preprocess?: VitPreprocess;
}

export type PretrainedArch = Gpt2Arch | LlamaArch | VitArch;

/** A pretrained causal language model's architecture. */
export type PretrainedLmArch = Gpt2Arch | LlamaArch;

/** Architecture class names by model_type. */
export const ARCHITECTURES: Record<string, readonly string[]> = {
  gpt2: ["GPT2LMHeadModel"],
  llama: ["LlamaForCausalLM"],
  mistral: ["MistralForCausalLM"],
  qwen2: ["Qwen2ForCausalLM"],
  vit: ["ViTForImageClassification", "ViTModel"],
};

/** Parses a config.json object; `file` names it in errors. */
export function parseArch(raw: unknown, file: string): PretrainedArch {
  const fail = (problem: string): never => {
    throw new PretrainedError(file, problem);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("must hold a JSON object");
  const c = raw as Record<string, unknown>;
  const type = c.model_type;
  if (typeof type !== "string" || !Object.hasOwn(ARCHITECTURES, type)) {
    fail(
      `model_type ${JSON.stringify(type)} is not supported (expected one of ${
        Object.keys(ARCHITECTURES).join(", ")
      })`,
    );
  }
  const known = ARCHITECTURES[type as string];
  if (c.architectures !== undefined) {
    const list = c.architectures;
    if (!Array.isArray(list) || list.length !== 1 || !known.includes(list[0])) {
      fail(
        `architectures ${JSON.stringify(list)} is not supported for model_type "${type}" (expected ["${
          known[0]
        }"])`,
      );
    }
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) < 1) {
      fail(`${key} must be a positive integer, found ${JSON.stringify(c[key])}`);
    }
    return v as number;
  };
  const num = (key: string, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== "number" || !(v > 0)) {
      fail(`${key} must be a positive number, found ${JSON.stringify(c[key])}`);
    }
    return v as number;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== "boolean") fail(`${key} must be true or false, found ${JSON.stringify(c[key])}`);
    return v as boolean;
  };
  const refuse = (key: string, ok: (v: unknown) => boolean, what: string) => {
    if (c[key] !== undefined && !ok(c[key])) {
      fail(`${key} ${JSON.stringify(c[key])} is not supported (${what})`);
    }
  };
  const divides = (dim: number, heads: number, what: string) => {
    if (dim % heads !== 0) fail(`${what} ${heads} does not divide the width ${dim}`);
  };

  if (type === "gpt2") {
    refuse("activation_function", (v) => v === "gelu_new", 'only "gelu_new"');
    refuse("scale_attn_weights", (v) => v === true, "only true");
    refuse("scale_attn_by_inverse_layer_idx", (v) => v === false, "only false");
    refuse("tie_word_embeddings", (v) => v === true, "only true: GPT-2's lm_head is its token embedding");
    const dim = int("n_embd"), heads = int("n_head");
    divides(dim, heads, "n_head");
    return {
      family: "gpt2",
      vocab: int("vocab_size"),
      positions: int("n_positions"),
      dim,
      depth: int("n_layer"),
      heads,
      inner: c.n_inner === null ? 4 * dim : int("n_inner", 4 * dim),
      eps: num("layer_norm_epsilon", 1e-5),
    };
  }
  if (type === "vit") return parseVit(c, fail, int, num, bool);
  refuse("hidden_act", (v) => v === "silu", 'only "silu"');
  refuse("rope_scaling", (v) => v === null, "only null: scaled rotary positions are not implemented");
  refuse("pretraining_tp", (v) => v === 1, "only 1");
  const dim = int("hidden_size"), heads = int("num_attention_heads");
  const kvHeads = int("num_key_value_heads", heads);
  if (heads % kvHeads !== 0) {
    fail(`num_key_value_heads ${kvHeads} does not divide num_attention_heads ${heads}`);
  }
  const headDim = c.head_dim === undefined || c.head_dim === null ? dim / heads : int("head_dim");
  if (!Number.isInteger(headDim)) fail(`num_attention_heads ${heads} does not divide hidden_size ${dim}`);
  if (headDim % 2 !== 0) fail(`the head width ${headDim} must be even for rotary positions`);
  const qwen = type === "qwen2";
  const attentionBias = qwen ? false : bool("attention_bias", false);
  return {
    family: "llama",
    modelType: type as LlamaArch["modelType"],
    vocab: int("vocab_size"),
    positions: int("max_position_embeddings"),
    dim,
    depth: int("num_hidden_layers"),
    heads,
    kvHeads,
    headDim,
    inner: int("intermediate_size"),
    eps: num("rms_norm_eps", 1e-6),
    ropeTheta: num("rope_theta", 10000),
    tied: bool("tie_word_embeddings", false),
    qkvBias: qwen || attentionBias,
    oBias: attentionBias,
    mlpBias: qwen ? false : bool("mlp_bias", false),
  };
}

const VIT_GELU: Record<string, VitArch["gelu"]> = {
  gelu: "erf",
  gelu_new: "tanh",
  gelu_pytorch_tanh: "tanh",
};

function parseVit(
  c: Record<string, unknown>,
  fail: (problem: string) => never,
  int: (key: string, fallback?: number) => number,
  num: (key: string, fallback: number) => number,
  bool: (key: string, fallback: boolean) => boolean,
): VitArch {
  const act = c.hidden_act ?? "gelu";
  if (typeof act !== "string" || !Object.hasOwn(VIT_GELU, act)) {
    fail(
      `hidden_act ${JSON.stringify(act)} is not supported (expected one of ${
        Object.keys(VIT_GELU).join(", ")
      })`,
    );
  }
  const dim = int("hidden_size", 768), heads = int("num_attention_heads", 12);
  if (dim % heads !== 0) fail(`num_attention_heads ${heads} does not divide hidden_size ${dim}`);
  const image = int("image_size", 224), patch = int("patch_size", 16);
  if (image % patch !== 0) fail(`patch_size ${patch} does not divide image_size ${image}`);
  const classifier = Array.isArray(c.architectures) && c.architectures[0] === "ViTForImageClassification";
  return {
    family: "vit",
    image,
    patch,
    channels: int("num_channels", 3),
    dim,
    depth: int("num_hidden_layers", 12),
    heads,
    inner: int("intermediate_size", 3072),
    eps: num("layer_norm_eps", 1e-12),
    gelu: VIT_GELU[act as string],
    qkvBias: bool("qkv_bias", true),
    labels: classifier ? labelCount(c, fail) : 0,
    prefix: classifier ? "vit." : "",
  };
}

/** Classes of a classification config: id2label's size, as transformers counts them (num_labels, else 2). */
function labelCount(c: Record<string, unknown>, fail: (problem: string) => never): number {
  const labels = c.id2label;
  if (labels !== undefined) {
    if (typeof labels !== "object" || labels === null || Array.isArray(labels)) {
      fail("id2label must be an object from class ids to names");
    }
    const n = Object.keys(labels as object).length;
    if (n === 0) fail("id2label is empty");
    return n;
  }
  const n = c.num_labels ?? 2;
  if (!Number.isSafeInteger(n) || (n as number) < 1) {
    fail(`num_labels must be a positive integer, found ${JSON.stringify(c.num_labels)}`);
  }
  return n as number;
}

/** Refuses contexts the model cannot attend over as written (positions, Mistral's sliding window). */
export function checkContext(
  arch: PretrainedArch,
  context: number,
  raw: Record<string, unknown>,
  file: string,
): void {
  if (arch.family === "vit") throw new PretrainedError(file, "is a vit model: it reads images, not tokens");
  if (context > arch.positions) {
    throw new PretrainedError(file, `context ${context} exceeds the model's ${arch.positions} positions`);
  }
  const window = raw.sliding_window;
  const windowed = arch.family === "llama" && typeof window === "number" &&
    (arch.modelType === "mistral" || raw.use_sliding_window === true);
  if (windowed && context > (window as number)) {
    throw new PretrainedError(
      file,
      `context ${context} exceeds sliding_window ${window}; windowed attention is not implemented`,
    );
  }
}

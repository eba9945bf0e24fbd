/**
 * The tensors of each architecture under their Hugging Face names, and the linear layers adapters are placed
 * on. Parameters keep the Hugging Face names in mixtune; only GPT-2's Conv1D weights change layout, from
 * [in, out] on disk to mixtune's [out, in].
 */
import type { LinearModule } from "../config.ts";
import type { Gpt2Arch, LlamaArch, PretrainedArch, VitArch } from "./arch.ts";

/** One tensor of a checkpoint. */
export interface CheckpointTensor {
  /** Name in the checkpoint and in mixtune's parameter table. */
  name: string;
  /** Shape on disk. */
  shape: number[];
  /** Module path it belongs to (`transformer.h.0.attn.c_attn`). */
  module: string;
  /** Stored [in, out] (GPT-2's Conv1D): transposed to [out, in] when loaded. */
  conv1d: boolean;
}

/** Every linear layer in forward order, with Hugging Face module paths (what adapter patterns match). */
export function pretrainedLinears(arch: PretrainedArch): LinearModule[] {
  if (arch.family === "vit") return vitLinears(arch);
  return arch.family === "gpt2" ? gpt2Linears(arch) : llamaLinears(arch);
}

/** Every tensor the checkpoint must hold, in forward order. */
export function checkpointTensors(arch: PretrainedArch): CheckpointTensor[] {
  const out: CheckpointTensor[] = [];
  const vector = (module: string, n: number, bias: boolean) => {
    out.push({ name: `${module}.weight`, shape: [n], module, conv1d: false });
    if (bias) out.push({ name: `${module}.bias`, shape: [n], module, conv1d: false });
  };
  const linears = new Map(pretrainedLinears(arch).map((m) => [m.path, m]));
  const linear = (path: string) => {
    const m = linears.get(path)!;
    const conv1d = arch.family === "gpt2";
    out.push({ name: `${path}.weight`, shape: conv1d ? [m.in, m.out] : [m.out, m.in], module: path, conv1d });
    if (m.bias) out.push({ name: `${path}.bias`, shape: [m.out], module: path, conv1d: false });
  };
  const table = (name: string, rows: number, cols: number) =>
    out.push({ name, shape: [rows, cols], module: name.replace(/\.weight$/, ""), conv1d: false });
  if (arch.family === "vit") {
    const e = `${arch.prefix}embeddings`, P = arch.patch, tokens = (arch.image / P) ** 2 + 1;
    out.push({ name: `${e}.cls_token`, shape: [1, 1, arch.dim], module: `${e}`, conv1d: false });
    out.push({ name: `${e}.position_embeddings`, shape: [1, tokens, arch.dim], module: e, conv1d: false });
    const conv = `${e}.patch_embeddings.projection`;
    out.push({ name: `${conv}.weight`, shape: [arch.dim, arch.channels, P, P], module: conv, conv1d: false });
    out.push({ name: `${conv}.bias`, shape: [arch.dim], module: conv, conv1d: false });
    for (let i = 0; i < arch.depth; i++) {
      const l = `${arch.prefix}encoder.layer.${i}`;
      vector(`${l}.layernorm_before`, arch.dim, true);
      for (const p of ["query", "key", "value"]) linear(`${l}.attention.attention.${p}`);
      linear(`${l}.attention.output.dense`);
      vector(`${l}.layernorm_after`, arch.dim, true);
      linear(`${l}.intermediate.dense`);
      linear(`${l}.output.dense`);
    }
    vector(`${arch.prefix}layernorm`, arch.dim, true);
    if (arch.labels > 0) linear("classifier");
    return out;
  }
  if (arch.family === "gpt2") {
    table("transformer.wte.weight", arch.vocab, arch.dim);
    table("transformer.wpe.weight", arch.positions, arch.dim);
    for (let i = 0; i < arch.depth; i++) {
      const h = `transformer.h.${i}`;
      vector(`${h}.ln_1`, arch.dim, true);
      linear(`${h}.attn.c_attn`);
      linear(`${h}.attn.c_proj`);
      vector(`${h}.ln_2`, arch.dim, true);
      linear(`${h}.mlp.c_fc`);
      linear(`${h}.mlp.c_proj`);
    }
    vector("transformer.ln_f", arch.dim, true);
    return out;
  }
  table("model.embed_tokens.weight", arch.vocab, arch.dim);
  for (let i = 0; i < arch.depth; i++) {
    const l = `model.layers.${i}`;
    vector(`${l}.input_layernorm`, arch.dim, false);
    for (const p of ["q", "k", "v", "o"]) linear(`${l}.self_attn.${p}_proj`);
    vector(`${l}.post_attention_layernorm`, arch.dim, false);
    for (const p of ["gate", "up", "down"]) linear(`${l}.mlp.${p}_proj`);
  }
  vector("model.norm", arch.dim, false);
  if (!arch.tied) linear("lm_head");
  return out;
}

/**
 * ViTModel's pooler (dense + tanh over the CLS token): not the representation mixtune trains (the CLS token
 * after the final layernorm, as ViTForImageClassification uses), so it is neither read nor written back.
 */
export function vitPooler(arch: VitArch, name: string): boolean {
  return name === `${arch.prefix}pooler.dense.weight` || name === `${arch.prefix}pooler.dense.bias`;
}

/**
 * Tensors a checkpoint may hold beyond the table and that are not weights: GPT-2's causal-mask buffers,
 * older Llama checkpoints' rotary frequencies, and a tied lm_head saved alongside the embedding.
 */
export function ignoredTensor(arch: PretrainedArch, name: string): boolean {
  if (arch.family === "vit") return vitPooler(arch, name);
  if (arch.family === "gpt2") {
    return /^transformer\.h\.\d+\.attn\.(bias|masked_bias)$/.test(name) || name === "lm_head.weight";
  }
  return /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(name) ||
    (arch.tied && name === "lm_head.weight");
}

function gpt2Linears(arch: Gpt2Arch): LinearModule[] {
  const d = arch.dim;
  const out: LinearModule[] = [];
  for (let i = 0; i < arch.depth; i++) {
    const h = `transformer.h.${i}`;
    out.push({ path: `${h}.attn.c_attn`, in: d, out: 3 * d, bias: true });
    out.push({ path: `${h}.attn.c_proj`, in: d, out: d, bias: true });
    out.push({ path: `${h}.mlp.c_fc`, in: d, out: arch.inner, bias: true });
    out.push({ path: `${h}.mlp.c_proj`, in: arch.inner, out: d, bias: true });
  }
  return out;
}

function vitLinears(arch: VitArch): LinearModule[] {
  const d = arch.dim;
  const out: LinearModule[] = [];
  for (let i = 0; i < arch.depth; i++) {
    const l = `${arch.prefix}encoder.layer.${i}`;
    for (const p of ["query", "key", "value"]) {
      out.push({ path: `${l}.attention.attention.${p}`, in: d, out: d, bias: arch.qkvBias });
    }
    out.push({ path: `${l}.attention.output.dense`, in: d, out: d, bias: true });
    out.push({ path: `${l}.intermediate.dense`, in: d, out: arch.inner, bias: true });
    out.push({ path: `${l}.output.dense`, in: arch.inner, out: d, bias: true });
  }
  if (arch.labels > 0) out.push({ path: "classifier", in: d, out: arch.labels, bias: true });
  return out;
}

function llamaLinears(arch: LlamaArch): LinearModule[] {
  const d = arch.dim, q = arch.heads * arch.headDim, kv = arch.kvHeads * arch.headDim;
  const out: LinearModule[] = [];
  for (let i = 0; i < arch.depth; i++) {
    const a = `model.layers.${i}.self_attn`, m = `model.layers.${i}.mlp`;
    out.push({ path: `${a}.q_proj`, in: d, out: q, bias: arch.qkvBias });
    out.push({ path: `${a}.k_proj`, in: d, out: kv, bias: arch.qkvBias });
    out.push({ path: `${a}.v_proj`, in: d, out: kv, bias: arch.qkvBias });
    out.push({ path: `${a}.o_proj`, in: q, out: d, bias: arch.oBias });
    out.push({ path: `${m}.gate_proj`, in: d, out: arch.inner, bias: arch.mlpBias });
    out.push({ path: `${m}.up_proj`, in: d, out: arch.inner, bias: arch.mlpBias });
    out.push({ path: `${m}.down_proj`, in: arch.inner, out: d, bias: arch.mlpBias });
  }
  if (!arch.tied) out.push({ path: "lm_head", in: d, out: arch.vocab, bias: false });
  return out;
}

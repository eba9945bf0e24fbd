/**
 * Causal language-model graphs of pretrained architectures, with Hugging Face module paths as parameter
 * names so adapter patterns (`c_attn`, `q_proj`, `v_proj`) select the modules researchers know.
 */
import { input, type Node, param } from "../../graph/node.ts";
import { add, mul } from "../../graph/ops/elementwise.ts";
import { sumAll } from "../../graph/ops/reduce.ts";
import { gelu, scale, silu } from "../../graph/ops/unary.ts";
import { gather } from "../../graph/ops/gather.ts";
import { linear as linearOp, matmul } from "../../graph/ops/matmul.ts";
import { reshape } from "../../graph/ops/reshape.ts";
import { broadcastTo, concat, slice } from "../../graph/ops/shape.ts";
import { layerNorm } from "../../graph/ops/layer_norm.ts";
import { rmsNorm } from "../../graph/ops/rms_norm.ts";
import { rotary, rotaryAngles } from "../../graph/ops/rotary.ts";
import { attention } from "../../graph/ops/attention.ts";
import { loraLinear } from "../../graph/ops/lora.ts";
import { type LinearFn, linearParts, linearWithLora, type LoraPlacement } from "../_linear.ts";
import { lmLoss, unfusedLmLoss } from "../_lm_loss.ts";
import type { Gpt2Arch, LlamaArch, PretrainedArch, PretrainedLmArch } from "./arch.ts";
import { checkpointTensors } from "./tensors.ts";

/** What to build. */
export interface PretrainedBuildOptions {
  batch: number;
  /** Tokens per example. */
  context: number;
  /** Number of data domains, for per-domain loss sums. */
  domains: number;
  lora?: readonly LoraPlacement[];
  /** Whether a base parameter is trained; LoRA params always are. */
  trainable?: (name: string) => boolean;
  /** Build the training graph: LoRA dropout is active. */
  training?: boolean;
  /** Vocabulary rows per chunk of the fused LM loss; 0: whole logits (see BuildOptions.lossChunk). */
  lossChunk?: number;
  /** Keep the LM loss's logits between the passes (see BuildOptions.keepLogits). */
  keepLogits?: boolean;
  /** Take per-token positions [B, T] as an input (see BuildOptions.positions). */
  positions?: boolean;
}

/** A built causal LM graph. */
export interface PretrainedGraph {
  params: Map<string, Node>;
  /** x: token ids [B, T]; labels: next ids [B, T]; weights [B]; domains one-hot [B, D]; positions [B, T]. */
  inputs: {
    x: Node;
    labels: Node;
    weights: Node;
    domains: Node;
    gate?: Node;
    dropoutSeed?: Node;
    positions?: Node;
  };
  /** [B, T, vocab]. */
  logits: Node;
  /** Mean token cross-entropy of each example over its counted tokens (labels of -1 are not) [B]. */
  perExample: Node;
  /** Weighted mean loss []. */
  loss: Node;
  /** Sum over the batch of each domain's per-example losses [D]. */
  domainLoss: Node;
}

/** Every base parameter with its shape in mixtune's layout ([out, in] linears). */
export function pretrainedParams(arch: PretrainedArch): { name: string; shape: number[]; module: string }[] {
  return checkpointTensors(arch).map((t) => ({
    name: t.name,
    shape: t.conv1d ? [t.shape[1], t.shape[0]] : t.shape,
    module: t.module,
  }));
}

/** Builds the forward graph and the LM loss over next-token labels. */
export function buildPretrained(arch: PretrainedLmArch, options: PretrainedBuildOptions): PretrainedGraph {
  const { batch: B, context: T } = options;
  const trainable = options.trainable ?? (() => false);
  const params = new Map<string, Node>();
  for (const p of pretrainedParams(arch)) params.set(p.name, param(p.name, p.shape, trainable(p.name)));
  const lora = options.lora ?? [];
  const gate = lora.some((l) => l.gated) ? input("gate", [B]) : undefined;
  const dropping = options.training && lora.some((l) => (l.dropout ?? 0) > 0);
  const dropoutSeed = dropping ? input("dropout_seed", [1]) : undefined;
  const linear = linearWithLora(params, lora, gate, dropoutSeed);
  const x = input("x", [B, T]);
  const labels = input("labels", [B, T]);
  const positions = options.positions ? input("positions", [B, T]) : undefined;
  const hidden = arch.family === "gpt2"
    ? gpt2(arch, params, linear, x, T, positions)
    : llama(arch, params, linear, x, B, T, positions);
  const head = arch.family === "gpt2" || arch.tied
    ? {
      W: params.get(arch.family === "gpt2" ? "transformer.wte.weight" : "model.embed_tokens.weight")!,
      branches: [],
    }
    : linearParts(params, lora, gate, dropoutSeed)("lm_head", hidden);
  // generation reads the logits; the loss never does (lmLoss makes them a vocabulary chunk at a time)
  const logits = head.branches.length > 0
    ? loraLinear(hidden, head.W, head.b, head.branches)
    : linearOp(hidden, head.W, head.b);
  const perExample = options.lossChunk === 0
    ? unfusedLmLoss(logits, labels, arch.vocab)
    : lmLoss(hidden, head, labels, {
      chunk: options.lossChunk,
      keepLogits: options.training ? options.keepLogits : false,
    });
  const weights = input("weights", [B]);
  const domains = input("domains", [B, options.domains]);
  const loss = scale(sumAll(mul(perExample, weights)), 1 / B);
  const domainLoss = reshape(matmul(domains, reshape(perExample, [B, 1]), { transA: true }), [
    options.domains,
  ]);
  return {
    params,
    inputs: { x, labels, weights, domains, gate, dropoutSeed, ...(positions ? { positions } : {}) },
    logits,
    perExample,
    loss,
    domainLoss,
  };
}

/** GPT-2's hidden states; `positions` [B, T] select the rows of wpe per token (else rows 0..T-1). */
function gpt2(
  arch: Gpt2Arch,
  params: Map<string, Node>,
  linear: LinearFn,
  x: Node,
  T: number,
  positions?: Node,
): Node {
  const p = (name: string) => params.get(name)!;
  const norm = (path: string, v: Node) => layerNorm(v, p(`${path}.weight`), p(`${path}.bias`), arch.eps);
  const wte = p("transformer.wte.weight");
  const wpe = p("transformer.wpe.weight");
  const pe = positions ? gather(wpe, positions) : T < arch.positions ? slice(wpe, 0, 0, T) : wpe;
  let h = add(gather(wte, x), pe);
  for (let i = 0; i < arch.depth; i++) {
    const b = `transformer.h.${i}`;
    const qkv = linear(`${b}.attn.c_attn`, norm(`${b}.ln_1`, h));
    h = linear(`${b}.attn.c_proj`, attention(qkv, { heads: arch.heads, causal: true, positions }), h);
    h = linear(`${b}.mlp.c_proj`, gelu(linear(`${b}.mlp.c_fc`, norm(`${b}.ln_2`, h))), h);
  }
  return norm("transformer.ln_f", h);
}

function llama(
  arch: LlamaArch,
  params: Map<string, Node>,
  linear: LinearFn,
  x: Node,
  B: number,
  T: number,
  positions?: Node,
): Node {
  const p = (name: string) => params.get(name)!;
  const norm = (path: string, v: Node) => rmsNorm(v, p(`${path}.weight`), arch.eps);
  const { heads: H, kvHeads: K, headDim: dh } = arch;
  // each key/value head serves H / K query heads, the consecutive ones (Hugging Face's repeat_kv)
  const repeat = (v: Node) =>
    K === H
      ? reshape(v, [B, T, H * dh])
      : reshape(broadcastTo(reshape(v, [B, T, K, 1, dh]), [B, T, K, H / K, dh]), [
        B,
        T,
        H * dh,
      ]);
  const embed = p("model.embed_tokens.weight");
  let h = gather(embed, x);
  // per-token positions: one pair of gathered angle tables for every layer
  const angles = positions ? rotaryAngles(B, T, dh, arch.ropeTheta, positions) : undefined;
  for (let i = 0; i < arch.depth; i++) {
    const a = `model.layers.${i}.self_attn`, m = `model.layers.${i}.mlp`;
    const n = norm(`model.layers.${i}.input_layernorm`, h);
    const q = rotary(reshape(linear(`${a}.q_proj`, n), [B, T, H, dh]), arch.ropeTheta, angles);
    const k = rotary(reshape(linear(`${a}.k_proj`, n), [B, T, K, dh]), arch.ropeTheta, angles);
    const v = reshape(linear(`${a}.v_proj`, n), [B, T, K, dh]);
    const qkv = concat([reshape(q, [B, T, H * dh]), repeat(k), repeat(v)], 2);
    h = linear(`${a}.o_proj`, attention(qkv, { heads: H, causal: true, positions }), h);
    const n2 = norm(`model.layers.${i}.post_attention_layernorm`, h);
    h = linear(`${m}.down_proj`, mul(silu(linear(`${m}.gate_proj`, n2)), linear(`${m}.up_proj`, n2)), h);
  }
  return norm("model.norm", h);
}

/** Builds a model's training graph from its config: params (with LoRA where placed), forward, loss, metrics. */
import { input, type Node, param } from "../graph/node.ts";
import { linearParts, linearWithLora, type LoraPlacement } from "./_linear.ts";
import { lmLoss, unfusedLmLoss } from "./_lm_loss.ts";
import { add, mul } from "../graph/ops/elementwise.ts";
import { mean, sumAll } from "../graph/ops/reduce.ts";
import { gelu, scale } from "../graph/ops/unary.ts";
import { gather } from "../graph/ops/gather.ts";
import { matmul } from "../graph/ops/matmul.ts";
import { reshape } from "../graph/ops/reshape.ts";
import { transpose } from "../graph/ops/shape.ts";
import { layerNorm } from "../graph/ops/layer_norm.ts";
import { attention } from "../graph/ops/attention.ts";
import { softmaxCrossEntropy } from "../graph/ops/cross_entropy.ts";
import { l2Normalize } from "../graph/ops/normalize.ts";
import { type ModelConfig, pretrainedLm, pretrainedVit, tokens, vocabSize } from "./config.ts";
import { buildPretrained } from "./pretrained/graph.ts";
import { buildVit } from "./pretrained/vit_graph.ts";
import { packedCosine, packedLora, packedLosses, stackedBase } from "./_packed.ts";
import { baseParams } from "./params.ts";

export { loraNames, type LoraPlacement } from "./_linear.ts";

/** The loss a model trains with. */
export type LossKind =
  | { kind: "lm" }
  | { kind: "softmax"; scale?: number }
  | { kind: "cosface"; scale: number; margin: number }
  | { kind: "arcface"; scale: number; margin: number };

/** What to build. */
export interface BuildOptions {
  batch: number;
  /** Number of data domains, for per-domain loss sums. */
  domains: number;
  loss: LossKind;
  lora?: readonly LoraPlacement[];
  /** Whether a base parameter is trained (full fine-tuning, or the head only); LoRA params always are. */
  trainable?: (name: string) => boolean;
  /** Build the training graph: LoRA dropout is active (evaluation graphs leave it out). */
  training?: boolean;
  /**
   * Pack K variants into one graph: variant k's LoRA placements (the same paths and gating for all, ranks
   * and scales free). Inputs then hold K * batch examples, variant k's in rows k * batch.., LoRA weights
   * are stacked [K, ...] (ranks zero-padded to the largest), trainable base parameters too (only
   * `head.weight` may be one), and the loss is per variant [K], the domain sums [K, D]. `lora` is unused.
   */
  variants?: readonly (readonly LoraPlacement[])[];
  /**
   * LM loss: vocabulary rows per chunk of the fused output projection and cross-entropy (default: sized to
   * the batch's tokens, see lossChunk); 0 makes whole [tokens, vocabulary] logits instead, the unfused path
   * kept to compare against.
   */
  lossChunk?: number;
  /**
   * LM loss of a training graph: keep the logits from the forward to the backward (default: where
   * linearCrossEntropy's rule allows; false: make them again). Graphs without `training` never keep them.
   */
  keepLogits?: boolean;
  /** Side of the images fed to a pretrained ViT when it differs from image_size (see VitBuildOptions). */
  side?: number;
  /**
   * Language models: take per-token positions [B, T] as an input (examples packed into a window with positions
   * restarting at 0 at each): position embeddings and rotary angles read them, and attention stays within an
   * example (block-diagonal causal mask). A feed without them writes 0..T-1 in every row (see plainPositions).
   */
  positions?: boolean;
}

/** A built model graph. */
export interface ModelGraph {
  config: ModelConfig;
  params: Map<string, Node>;
  /** x: images [B, side^2] or bytes [B, T]; labels: class [B] or next bytes [B, T]; weights: loss weight [B];
   * domains: one-hot [B, D]; gate: quality weight g [B] when some adapter is gated; dropoutSeed: [1]
   * ([K] when packed), a new value each step, when some adapter has dropout in a training graph; positions:
   * per-token positions [B, T] of a language model built with `positions`. */
  inputs: {
    x: Node;
    labels: Node;
    weights: Node;
    domains: Node;
    gate?: Node;
    dropoutSeed?: Node;
    positions?: Node;
  };
  /** Next-token logits [B, T, vocab] (pretrained causal LMs: generation reads them, the loss never does). */
  logits?: Node;
  /** Pooled, projected embedding [B, e] (ViT only). */
  embedding?: Node;
  /** Per-example loss before weighting [B]. */
  perExample: Node;
  /** Weighted mean loss [] ([K] when packed). */
  loss: Node;
  /** Sum over the batch of each domain's per-example losses [D] ([K, D] when packed). */
  domainLoss: Node;
  /** K, when built with `variants` (a packed graph). */
  packed?: number;
}

/** Builds the graph. */
export function buildModel(config: ModelConfig, options: BuildOptions): ModelGraph {
  const vit = pretrainedVit(config);
  if (vit && config.backbone === "pretrained") {
    if (options.variants) throw new Error("packed variants of a pretrained model are not supported yet");
    const B = options.batch;
    const backbone = buildVit(vit, options);
    const params = backbone.params;
    const head = param(
      "head.weight",
      [config.classes ?? 0, vit.dim],
      options.trainable?.("head.weight") ?? false,
    );
    params.set(head.name, head);
    const labels = input("labels", [B]);
    const perExample = cosineLoss(backbone.features, head, labels, options.loss);
    const weights = input("weights", [B]);
    const domains = input("domains", [B, options.domains]);
    return {
      config,
      params,
      inputs: {
        x: backbone.x,
        labels,
        weights,
        domains,
        gate: backbone.gate,
        dropoutSeed: backbone.dropoutSeed,
      },
      embedding: backbone.features,
      perExample,
      loss: scale(sumAll(mul(perExample, weights)), 1 / B),
      domainLoss: reshape(matmul(domains, reshape(perExample, [B, 1]), { transA: true }), [options.domains]),
    };
  }
  if (config.backbone === "pretrained") {
    if (options.loss.kind !== "lm") {
      throw new Error(`a pretrained model trains with the lm loss, not ${options.loss.kind}`);
    }
    if (options.variants) throw new Error("packed variants of a pretrained model are not supported yet");
    const { params, inputs, logits, perExample, loss, domainLoss } = buildPretrained(pretrainedLm(config), {
      ...options,
      context: tokens(config),
    });
    return { config, params, inputs, logits, perExample, loss, domainLoss };
  }
  const K = options.variants?.length ?? 1;
  const pack = options.variants ? packedLora(options.variants) : undefined;
  const B = options.batch * K;
  const T = tokens(config);
  const trainable = options.trainable ?? (() => false);
  const params = new Map<string, Node>();
  for (const p of baseParams(config)) {
    const t = trainable(p.name);
    params.set(p.name, param(p.name, pack && t ? stackedBase(p.name, p.shape, K) : p.shape, t));
  }
  const placements = pack?.placements ?? options.lora ?? [];
  const gated = placements.some((l) => l.gated);
  const gate = gated ? input("gate", [B]) : undefined;
  const dropping = options.training && placements.some((l) => (l.dropout ?? 0) > 0);
  // packed: one seed per variant, each masking its own rows
  const dropoutSeed = dropping ? input("dropout_seed", [K]) : undefined;
  const linear = linearWithLora(params, placements, gate, dropoutSeed, pack);
  const norm = (path: string, x: Node) =>
    layerNorm(x, params.get(`${path}.weight`)!, params.get(`${path}.bias`)!);

  let h: Node;
  let x: Node;
  let labels: Node;
  let positions: Node | undefined;
  if (config.backbone === "vit") {
    const g = config.image / config.patch;
    const P = config.patch;
    x = input("x", [B, config.image * config.image]);
    labels = input("labels", [B]);
    const patches = reshape(transpose(reshape(x, [B, g, P, g, P]), [0, 1, 3, 2, 4]), [B, T, P * P]);
    h = linear("patch_embed", patches, params.get("pos_embed")!);
  } else {
    x = input("x", [B, T]);
    labels = input("labels", [B, T]);
    positions = options.positions ? input("positions", [B, T]) : undefined;
    const pe = params.get("pos_embed")!;
    h = add(gather(params.get("embed")!, x), positions ? gather(pe, positions) : pe);
  }
  const causal = config.backbone === "lm";
  for (let i = 0; i < config.depth; i++) {
    const qkv = linear(`blocks.${i}.attn.qkv`, norm(`blocks.${i}.ln1`, h));
    h = linear(`blocks.${i}.attn.proj`, attention(qkv, { heads: config.heads, causal, positions }), h);
    const mid = gelu(linear(`blocks.${i}.mlp.fc1`, norm(`blocks.${i}.ln2`, h)));
    h = linear(`blocks.${i}.mlp.fc2`, mid, h);
  }
  h = norm("norm", h);

  let perExample: Node;
  let embedding: Node | undefined;
  if (config.backbone === "vit") {
    embedding = linear("feature", mean(h, 1));
    perExample = cosineLoss(embedding, params.get("head.weight")!, labels, options.loss);
  } else {
    if (options.loss.kind !== "lm") {
      throw new Error(`the lm backbone trains with the lm loss, not ${options.loss.kind}`);
    }
    perExample = fusedHead(pack, placements, params) && options.lossChunk !== 0
      ? lmLoss(h, linearParts(params, placements, gate, dropoutSeed)("lm_head", h), labels, {
        chunk: options.lossChunk,
        keepLogits: options.training ? options.keepLogits : false,
      })
      : unfusedLmLoss(linear("lm_head", h), labels, vocabSize(config));
  }
  const weights = input("weights", [B]);
  const domains = input("domains", [B, options.domains]);
  if (pack) {
    const losses = packedLosses(perExample, weights, domains, K);
    return {
      config,
      params,
      inputs: { x, labels, weights, domains, gate, dropoutSeed, ...(positions ? { positions } : {}) },
      embedding,
      perExample,
      ...losses,
    };
  }
  const loss = scale(sumAll(mul(perExample, weights)), 1 / B);
  const domainLoss = reshape(matmul(domains, reshape(perExample, [B, 1]), { transA: true }), [
    options.domains,
  ]);
  return {
    config,
    params,
    inputs: { x, labels, weights, domains, gate, dropoutSeed, ...(positions ? { positions } : {}) },
    embedding,
    perExample,
    loss,
    domainLoss,
  };
}

/**
 * Whether the LM head takes the fused loss. A packed graph whose lm_head is stacked per variant (trainable)
 * or carries LoRA keeps the unfused product and cross-entropy, where each variant's rows meet their own head.
 */
function fusedHead(
  pack: unknown,
  placements: readonly LoraPlacement[],
  params: Map<string, Node>,
): boolean {
  if (!pack) return true;
  return !placements.some((l) => l.path === "lm_head") && params.get("lm_head.weight")!.shape.length === 2;
}

/** Per-example loss of the cosine head: logits cos(embedding, head rows), softmax or margin cross-entropy. */
function cosineLoss(embedding: Node, head: Node, labels: Node, loss: LossKind): Node {
  const cos = head.shape.length === 3
    ? packedCosine(l2Normalize(embedding), l2Normalize(head))
    : matmul(l2Normalize(embedding), l2Normalize(head), { transB: true });
  if (loss.kind === "lm") throw new Error("the lm loss needs a language model");
  return loss.kind === "softmax"
    ? softmaxCrossEntropy(cos, labels, { kind: "none", scale: loss.scale ?? 1, margin: 0 })
    : softmaxCrossEntropy(cos, labels, { kind: loss.kind, scale: loss.scale, margin: loss.margin });
}

/**
 * The ViT backbone of a Hugging Face checkpoint (ViTModel, ViTForImageClassification) under its Hugging Face
 * module paths: patches through the Conv2d projection, the CLS token and positions, pre-LayerNorm blocks,
 * and the CLS token after the final layernorm as the representation.
 */
import { input, type Node, param } from "../../graph/node.ts";
import { add } from "../../graph/ops/elementwise.ts";
import { sum } from "../../graph/ops/reduce.ts";
import { gelu, geluErf } from "../../graph/ops/unary.ts";
import { matmul } from "../../graph/ops/matmul.ts";
import { reshape } from "../../graph/ops/reshape.ts";
import { broadcastTo, concat, slice, transpose } from "../../graph/ops/shape.ts";
import { layerNorm } from "../../graph/ops/layer_norm.ts";
import { attention } from "../../graph/ops/attention.ts";
import { linearWithLora, type LoraPlacement } from "../_linear.ts";
import type { VitArch } from "./arch.ts";
import { checkpointTensors } from "./tensors.ts";

/** What to build. */
export interface VitBuildOptions {
  batch: number;
  lora?: readonly LoraPlacement[];
  /** Whether a base parameter is trained; LoRA params always are. */
  trainable?: (name: string) => boolean;
  /** Build the training graph: LoRA dropout is active. */
  training?: boolean;
  /** Include `classifier` and its logits (ViTForImageClassification's head). */
  classifier?: boolean;
}

/** A built ViT backbone. */
export interface VitBackbone {
  params: Map<string, Node>;
  /** Single-channel images [B, image^2], row-major; replicated over the model's channels. */
  x: Node;
  gate?: Node;
  dropoutSeed?: Node;
  /** The CLS token after the final layernorm [B, hidden]. */
  features: Node;
  /** `classifier` over the features [B, labels], when built with `classifier`. */
  logits?: Node;
}

/** The backbone's parameters ([D, C, P, P] for the projection, as stored), `classifier` left out unless asked. */
export function vitParams(
  arch: VitArch,
  classifier = false,
): { name: string; shape: number[]; module: string }[] {
  return checkpointTensors(arch)
    .filter((t) => classifier || t.module !== "classifier")
    .map((t) => ({ name: t.name, shape: t.shape, module: t.module }));
}

/** Builds the backbone (and the classifier's logits when asked). */
export function buildVit(arch: VitArch, options: VitBuildOptions): VitBackbone {
  const B = options.batch;
  const trainable = options.trainable ?? (() => false);
  const params = new Map<string, Node>();
  for (const t of vitParams(arch, options.classifier)) {
    params.set(t.name, param(t.name, t.shape, trainable(t.name)));
  }
  const lora = options.lora ?? [];
  const gate = lora.some((l) => l.gated) ? input("gate", [B]) : undefined;
  const dropping = options.training && lora.some((l) => (l.dropout ?? 0) > 0);
  const dropoutSeed = dropping ? input("dropout_seed", [1]) : undefined;
  const linear = linearWithLora(params, lora, gate, dropoutSeed);
  const p = (name: string) => params.get(name)!;
  const norm = (path: string, v: Node) => layerNorm(v, p(`${path}.weight`), p(`${path}.bias`), arch.eps);
  const act = arch.gelu === "erf" ? geluErf : gelu;
  const { dim: D, patch: P, channels: C } = arch;
  const g = arch.image / P, N = g * g;

  const x = input("x", [B, arch.image * arch.image]);
  const patches = reshape(transpose(reshape(x, [B, g, P, g, P]), [0, 1, 3, 2, 4]), [B * N, P * P]);
  // a grayscale image replicated over C channels meets the Conv2d as one channel meets the sum of its C kernels
  const e = `${arch.prefix}embeddings`;
  const kernel = sum(reshape(p(`${e}.patch_embeddings.projection.weight`), [D, C, P * P]), 1);
  const embedded = add(matmul(patches, kernel, { transB: true }), p(`${e}.patch_embeddings.projection.bias`));
  const cls = broadcastTo(reshape(p(`${e}.cls_token`), [1, 1, D]), [B, 1, D]);
  let h = add(concat([cls, reshape(embedded, [B, N, D])], 1), p(`${e}.position_embeddings`));
  for (let i = 0; i < arch.depth; i++) {
    const l = `${arch.prefix}encoder.layer.${i}`;
    const n = norm(`${l}.layernorm_before`, h);
    const qkv = concat(["query", "key", "value"].map((q) => linear(`${l}.attention.attention.${q}`, n)), 2);
    h = linear(`${l}.attention.output.dense`, attention(qkv, { heads: arch.heads, causal: false }), h);
    h = linear(
      `${l}.output.dense`,
      act(linear(`${l}.intermediate.dense`, norm(`${l}.layernorm_after`, h))),
      h,
    );
  }
  const features = reshape(slice(norm(`${arch.prefix}layernorm`, h), 1, 0, 1), [B, D]);
  const logits = options.classifier && arch.labels > 0 ? linear("classifier", features) : undefined;
  return { params, x, gate, dropoutSeed, features, logits };
}

/**
 * The ViT backbone of a Hugging Face checkpoint (ViTModel, ViTForImageClassification) under its Hugging Face
 * module paths: patches through the Conv2d projection, the CLS token and positions, pre-LayerNorm blocks,
 * and the CLS token after the final layernorm as the representation.
 */
import { constant, input, type Node, param } from "../../graph/node.ts";
import { add, mul, sub } from "../../graph/ops/elementwise.ts";
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
import { bilinearWeights } from "../../data/transforms/resize.ts";

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
  /**
   * Side of the images fed as `x` (default image_size). Another side is resized to image_size in the graph,
   * which needs the checkpoint's preprocessor_config.json with do_resize.
   */
  side?: number;
}

/** A built ViT backbone. */
export interface VitBackbone {
  params: Map<string, Node>;
  /** Single-channel images [B, side^2] in [0, 1], row-major; replicated over the model's channels. */
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

  const side = options.side ?? arch.image;
  const x = input("x", [B, side * side]);
  const image = side === arch.image ? x : resized(x, B, side, arch);
  const patches = reshape(transpose(reshape(image, [B, g, P, g, P]), [0, 1, 3, 2, 4]), [B * N, P * P]);
  const e = `${arch.prefix}embeddings`;
  const { kernel, bias } = patchEmbedding(
    reshape(p(`${e}.patch_embeddings.projection.weight`), [D, C, P * P]),
    p(`${e}.patch_embeddings.projection.bias`),
    arch,
  );
  const embedded = add(matmul(patches, kernel, { transB: true }), bias);
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

/**
 * [B, side^2] images resized to [B, image^2]: the bilinear matrix R [image, side] of bilinearWeights applied
 * to rows and to columns (R X R^T), as the processor's do_resize does before rescaling (the two commute: the
 * weights of each output pixel sum to 1).
 */
function resized(x: Node, B: number, side: number, arch: VitArch): Node {
  const S = arch.image;
  if (!arch.preprocess?.resize) {
    throw new RangeError(
      `images of ${side} pixels need resizing to image_size ${S}, and the model has no do_resize`,
    );
  }
  const r = constant(Float32Array.from(bilinearWeights(side, S)), [S, side], "resize");
  const wide = matmul(reshape(x, [B * side, side]), r, { transB: true }); // [B, side rows, S columns]
  const turned = reshape(transpose(reshape(wide, [B, side, S]), [0, 2, 1]), [B * S, side]);
  const full = matmul(turned, r, { transB: true }); // [B, S columns, S rows]
  return reshape(transpose(reshape(full, [B, S, S]), [0, 2, 1]), [B, S * S]);
}

/**
 * The Conv2d of the patch embedding as one-channel kernels [D, P^2] and a bias [D]. The grayscale image is
 * replicated over the C channels; channel c then reads `a_c p + b_c` with a_c = 255 rescale / std_c and
 * b_c = -mean_c / std_c (the processor's rescale and normalisation; a_c = 1, b_c = 0 without a
 * preprocessor_config.json). The channels differ when mean or std do, yet the convolution is linear, so
 * sum_c W_c (a_c p + b_c) = (sum_c a_c W_c) p + sum_c b_c sum(W_c): exactly the C-channel convolution, folded
 * into one channel's kernel and the bias, at one channel's cost, with gradients reaching W through the fold.
 */
function patchEmbedding(w: Node, b: Node, arch: VitArch): { kernel: Node; bias: Node } {
  const pre = arch.preprocess;
  if (!pre) return { kernel: sum(w, 1), bias: b };
  const C = arch.channels;
  const a = pre.std.map((s) => 255 * pre.rescale / s);
  const kernel = sum(mul(w, constant(a, [1, C, 1], "pixel_scale")), 1);
  if (pre.mean.every((m) => m === 0)) return { kernel, bias: b };
  const shifted = mul(w, constant(pre.mean.map((m, c) => m / pre.std[c]), [1, C, 1], "pixel_shift"));
  return { kernel, bias: sub(b, sum(reshape(shifted, [arch.dim, C * arch.patch * arch.patch]), 1)) };
}

/** Multi-head self-attention from a fused qkv projection, composed of reshape, transpose, matmul and softmax. */
import { type Node, ShapeError, showShape } from "../node.ts";
import { matmul } from "./matmul.ts";
import { reshape } from "./reshape.ts";
import { slice, transpose } from "./shape.ts";
import { softmax } from "./softmax.ts";
import { scale } from "./unary.ts";

/** Options of `attention`. */
export interface AttentionOptions {
  heads: number;
  /** Each token attends to itself and earlier tokens only (language models). */
  causal: boolean;
}

/**
 * Scaled dot-product attention of qkv [B, T, 3d] (columns [0, d) = q, [d, 2d) = k, [2d, 3d) = v; head j
 * uses columns j*dh..(j+1)*dh of each, dh = d / heads) -> [B, T, d], heads merged back in column order.
 */
export function attention(qkv: Node, options: AttentionOptions): Node {
  const { heads, causal } = options;
  if (qkv.shape.length !== 3 || qkv.shape[2] % 3 !== 0) {
    throw new ShapeError(`attention: expects qkv [B, T, 3d], found ${showShape(qkv.shape)}`);
  }
  const [B, T, d3] = qkv.shape;
  const d = d3 / 3;
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0) {
    throw new ShapeError(
      `attention: ${heads} heads do not divide the width d = ${d} of qkv ${showShape(qkv.shape)}`,
    );
  }
  const dh = d / heads;
  // [B, T, 3, H, dh] -> [3, B, H, T, dh]: one transpose, then q, k, v are contiguous [B*H, T, dh] slices.
  const split = transpose(reshape(qkv, [B, T, 3, heads, dh]), [2, 0, 3, 1, 4]);
  const part = (i: number) => reshape(slice(split, 0, i, i + 1), [B * heads, T, dh]);
  // Scaling q ([T, dh] per head) is cheaper than scaling the scores ([T, T]) once T > dh.
  const scores = matmul(scale(part(0), 1 / Math.sqrt(dh)), part(1), { transB: true });
  const out = matmul(softmax(scores, { causal }), part(2));
  return reshape(transpose(reshape(out, [B, heads, T, dh]), [0, 2, 1, 3]), [B, T, d]);
}

/** Which frozen weights a step may keep in f16: those only ever read as the weight operand of matmuls. */
import { type Node, topo } from "../graph/node.ts";
import { opDef } from "../graph/op.ts";

/** How a step stores its frozen weights: all f32, or its frozen matmul weights in f16. */
export type FrozenDtype = "f32" | "f16";

/**
 * The frozen 2-D weights of the graph of `outputs` that every consumer reads through an input it can take
 * as f16 (`halfInputs`: the weight of a matmul, i.e. the linear, attention and MLP projections). Embeddings
 * read by gather, norms, biases and anything trainable stay f32; empty unless `dtype` is "f16".
 */
export function halfWeights(outputs: readonly Node[], dtype: FrozenDtype = "f16"): Set<Node> {
  if (dtype !== "f16") return new Set();
  const order = topo(outputs);
  const ok = new Map<Node, boolean>();
  for (const n of order) if (n.role === "param" && !n.trainable && n.shape.length === 2) ok.set(n, true);
  for (const n of order) {
    if (n.role !== "op") continue;
    const can = opDef(n.op).halfInputs ?? [];
    n.inputs.forEach((x, k) => {
      if (ok.has(x) && !can.includes(k)) ok.set(x, false);
    });
  }
  for (const o of outputs) if (ok.has(o)) ok.set(o, false);
  return new Set([...ok].filter(([, v]) => v).map(([n]) => n));
}

/** Bytes the store gives an f16 weight of `size` elements: rounded up to 256, like every tensor. */
export function halfBytes(size: number): number {
  return Math.ceil(size / 128) * 256;
}

/**
 * Which frozen weights a step may keep in 16 bits: those only ever read where an op can take 16 bits (the
 * weight operand of matmuls and of the fused LM loss, the table of gather).
 */
import { type Node, topo } from "../graph/node.ts";
import { type Half, opDef } from "../graph/op.ts";
import type { StoredDtype } from "../adapters/safetensors.ts";

/**
 * How a step stores its frozen 2-D weights: f32, f16, bf16, or each as its checkpoint stores it
 * ("stored": bf16 stays bf16, f16 stays f16, exactly; the default for pretrained models).
 */
export type FrozenDtype = "f32" | "f16" | "bf16" | "stored";

/** Each checkpoint tensor's stored element type, by parameter name (for "stored"). */
export type StoredDtypes = ReadonlyMap<string, StoredDtype>;

/**
 * The frozen 2-D weights of the graph of `outputs` that every consumer reads through an input it can take
 * in 16 bits (`halfInputs`: the weight of a matmul, i.e. the linear, attention and MLP projections, of the
 * fused LM loss, and the table of gather, so embeddings and tied output projections too), with the format
 * each is kept in. Norms, biases, position tables read by slices or adds, and anything trainable stay f32;
 * empty for "f32", and for "stored" holds the weights stored in 16 bits.
 */
export function halfWeights(
  outputs: readonly Node[],
  dtype: FrozenDtype = "f16",
  stored: StoredDtypes = new Map(),
): Map<Node, Exclude<Half, false>> {
  const kind = (p: Node): Half => {
    if (dtype === "f16" || dtype === "bf16") return dtype;
    if (dtype === "f32") return false;
    const d = stored.get(p.name);
    return d === "BF16" ? "bf16" : d === "F16" ? "f16" : false;
  };
  if (dtype === "f32") return new Map();
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
  const out = new Map<Node, Exclude<Half, false>>();
  for (const [n, v] of ok) {
    const k = kind(n);
    if (v && k) out.set(n, k);
  }
  return out;
}

/** Bytes the store gives a 16-bit weight of `size` elements: rounded up to 256, like every tensor. */
export function halfBytes(size: number): number {
  return Math.ceil(size / 128) * 256;
}

/**
 * The frozen weights kept in 16 bits by a store that several programs read (an evaluate stage's loss and its
 * greedy decoding): by name, those every program's graph can read in 16 bits, in the same format.
 */
export function sharedHalfWeights(
  graphs: readonly (readonly Node[])[],
  dtype: FrozenDtype,
  stored: StoredDtypes = new Map(),
): Map<string, Exclude<Half, false>> {
  const each = graphs.map((outputs) =>
    new Map([...halfWeights(outputs, dtype, stored)].map(([p, h]) => [p.name, h] as const))
  );
  const out = new Map<string, Exclude<Half, false>>();
  for (const [name, h] of each[0] ?? []) if (each.every((m) => m.get(name) === h)) out.set(name, h);
  return out;
}

/** The ViT forward as ONNX nodes (opset 17), following the shared model contract op for op. */

import { tokens, type VitConfig } from "../models/config.ts";
import { attr, type GraphBuilder } from "./_graph.ts";
import { loraDelta, mergeLora, transpose } from "./merge.ts";
import type { LoraModule, LoraSet, Weights } from "./types.ts";

const LN_EPS = 1e-5;
/** Floor on vector norms in the cosine head (as torch's F.normalize). */
const NORM_EPS = 1e-12;

/** Value names of the graph's inputs and outputs. */
export const IO = { image: "image", gate: "gate", embedding: "embedding", logits: "logits" } as const;

interface Ctx {
  g: GraphBuilder;
  weights: Weights;
  lora: LoraSet;
  /** The gate reshaped per rank of the activations it scales ([B,1] or [B,1,1]), and 1 - gate. */
  gates: Map<number, { g: string; rest: string }>;
}

const isGatedModule = (l: LoraModule | undefined): boolean => l?.A2 !== undefined;

function gateFor(ctx: Ctx, rank: number): { g: string; rest: string } {
  const known = ctx.gates.get(rank);
  if (known !== undefined) return known;
  const shape = [-1, ...Array(rank - 1).fill(1)];
  const g = ctx.g.op("Reshape", [IO.gate, ctx.g.int64(shape)], [], `gate_r${rank}`);
  const rest = ctx.g.op("Sub", [ctx.g.scalar(1), g], [], `one_minus_gate_r${rank}`);
  const pair = { g, rest };
  ctx.gates.set(rank, pair);
  return pair;
}

/** y = x W^T + b; plain LoRA is merged into W, gated LoRA adds two gate-weighted branches. */
function linear(ctx: Ctx, x: string, rank: number, path: string, out?: string): string {
  const { g, weights } = ctx;
  const w = weights[`${path}.weight`];
  const [o, i] = w.shape;
  const l = ctx.lora[path];
  const gated = isGatedModule(l);
  const wt = transpose(gated ? w.data : mergeLora(w, l), o, i);
  const bias = weights[`${path}.bias`];
  // `out` names whichever node ends the linear.
  let y = g.op(
    "MatMul",
    [x, g.float(`${path}.weight_t`, [i, o], wt)],
    [],
    bias === undefined && !gated ? out : undefined,
  );
  if (bias !== undefined) {
    y = g.op("Add", [y, g.float(`${path}.bias`, [o], bias.data)], [], gated ? undefined : out);
  }
  if (!gated) return y;
  const gate = gateFor(ctx, rank);
  const branch = (k: 1 | 2, weight: string): string => {
    const a = k === 1 ? l!.A1 : l!.A2!;
    const b = k === 1 ? l!.B1 : l!.B2!;
    const r = a.shape[0];
    const down = g.op("MatMul", [x, g.float(`${path}.lora_A${k}_t`, [i, r], transpose(a.data, r, i))]);
    const sb = Float64Array.from(b.data, (v) => v * l!.scale);
    const up = g.op("MatMul", [down, g.float(`${path}.lora_B${k}_t_scaled`, [r, o], transpose(sb, o, r))]);
    return g.op("Mul", [up, weight]);
  };
  const both = g.op("Add", [branch(1, gate.g), branch(2, gate.rest)]);
  return g.op("Add", [y, both], [], out);
}

function layerNorm(ctx: Ctx, x: string, name: string): string {
  const { g, weights } = ctx;
  const w = weights[`${name}.weight`];
  const scale = g.float(`${name}.weight`, w.shape, w.data);
  const bias = g.float(`${name}.bias`, w.shape, weights[`${name}.bias`].data);
  return g.op("LayerNormalization", [x, scale, bias], [attr.int("axis", -1), attr.float("epsilon", LN_EPS)]);
}

/** gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), from primitives. */
function geluTanh(g: GraphBuilder, x: string): string {
  const x3 = g.op("Mul", [x, g.op("Mul", [x, x])]);
  const inner = g.op("Add", [x, g.op("Mul", [x3, g.scalar(0.044715)])]);
  const t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(Math.sqrt(2 / Math.PI))])]);
  return g.op("Mul", [g.op("Mul", [x, g.scalar(0.5)]), g.op("Add", [t, g.scalar(1)])]);
}

/** Self-attention over [B, T, d]: qkv columns [q | k | v], head j in columns j*dh..(j+1)*dh of each. */
function attention(ctx: Ctx, x: string, config: VitConfig, block: number): string {
  const { g } = ctx;
  const { dim: d, heads } = config;
  const dh = d / heads;
  const t = tokens(config);
  const qkv = linear(ctx, x, 3, `blocks.${block}.attn.qkv`);
  const split = g.op("Reshape", [qkv, g.int64([-1, t, 3, heads, dh])]);
  const perm = g.op("Transpose", [split], [attr.ints("perm", [2, 0, 3, 1, 4])]); // [3, B, H, T, dh]
  const [q, k, v] = [0, 1, 2].map((which) =>
    g.op("Gather", [perm, g.int64([which], [])], [attr.int("axis", 0)])
  );
  const kt = g.op("Transpose", [k], [attr.ints("perm", [0, 1, 3, 2])]);
  const scores = g.op("Mul", [g.op("MatMul", [q, kt]), g.scalar(1 / Math.sqrt(dh))]);
  const probs = g.op("Softmax", [scores], [attr.int("axis", -1)]);
  const merged = g.op("Transpose", [g.op("MatMul", [probs, v])], [attr.ints("perm", [0, 2, 1, 3])]);
  const flat = g.op("Reshape", [merged, g.int64([-1, t, d])]);
  return linear(ctx, flat, 3, `blocks.${block}.attn.proj`);
}

/** x / max(||x||, eps) over `axis` (kept), as torch's F.normalize. */
function normalize(g: GraphBuilder, x: string, axis: number): string {
  const sq = g.op("ReduceSumSquare", [x], [attr.ints("axes", [axis]), attr.int("keepdims", 1)]);
  return g.op("Div", [x, g.op("Max", [g.op("Sqrt", [sq]), g.scalar(NORM_EPS)])]);
}

/** logits = s * cos(embedding, W_c); a gated head builds each example's effective weight. */
function cosineHead(ctx: Ctx, emb: string, config: VitConfig, logitScale: number): string {
  const { g } = ctx;
  const { embedDim: e, classes: c } = config;
  const w = ctx.weights["head.weight"];
  const l = ctx.lora["head"];
  const embN = normalize(g, emb, 1);
  if (!isGatedModule(l)) {
    const merged = mergeLora(w, l);
    const wn = new Float64Array(merged.length);
    for (let k = 0; k < c; k++) {
      let sq = 0;
      for (let j = 0; j < e; j++) sq += merged[k * e + j] ** 2;
      const inv = logitScale / Math.max(Math.sqrt(sq), NORM_EPS);
      for (let j = 0; j < e; j++) wn[k * e + j] = merged[k * e + j] * inv;
    }
    return g.op(
      "MatMul",
      [embN, g.float("head.weight_t_normalized_scaled", [e, c], transpose(wn, c, e))],
      [],
      IO.logits,
    );
  }
  const gate = gateFor(ctx, 3);
  const base = g.float("head.weight", [1, c, e], w.data);
  const d1 = g.float("head.lora_delta1", [1, c, e], loraDelta(l!.A1, l!.B1, l!.scale));
  const d2 = g.float("head.lora_delta2", [1, c, e], loraDelta(l!.A2!, l!.B2!, l!.scale));
  const eff = g.op("Add", [base, g.op("Add", [g.op("Mul", [d1, gate.g]), g.op("Mul", [d2, gate.rest])])]);
  const wn = g.op("Transpose", [normalize(g, eff, 2)], [attr.ints("perm", [0, 2, 1])]); // [B, e, c]
  const dots = g.op("MatMul", [g.op("Reshape", [embN, g.int64([-1, 1, e])]), wn]); // [B, 1, c]
  const flat = g.op("Reshape", [dots, g.int64([-1, c])]);
  return g.op("Mul", [flat, g.scalar(logitScale)], [], IO.logits);
}

/** Add the whole ViT to `g`, reading `image` (and `gate` when some LoRA is gated). */
export function buildVitGraph(
  g: GraphBuilder,
  config: VitConfig,
  weights: Weights,
  lora: LoraSet,
  logitScale: number,
): void {
  const ctx: Ctx = { g, weights, lora, gates: new Map() };
  const { image: side, patch, dim: d } = config;
  const grid = side / patch;
  const t = tokens(config);
  // [B, side*side] -> [B, gy, iy, gx, ix] -> [B, gy, gx, iy, ix] -> [B, T, patch*patch]
  const img = g.op("Reshape", [IO.image, g.int64([-1, grid, patch, grid, patch])]);
  const swapped = g.op("Transpose", [img], [attr.ints("perm", [0, 1, 3, 2, 4])]);
  const patches = g.op("Reshape", [swapped, g.int64([-1, t, patch * patch])]);
  let x = linear(ctx, patches, 3, "patch_embed");
  x = g.op("Add", [x, g.float("pos_embed", [t, d], weights["pos_embed"].data)]);
  for (let l = 0; l < config.depth; l++) {
    x = g.op("Add", [x, attention(ctx, layerNorm(ctx, x, `blocks.${l}.ln1`), config, l)]);
    const h = geluTanh(g, linear(ctx, layerNorm(ctx, x, `blocks.${l}.ln2`), 3, `blocks.${l}.mlp.fc1`));
    x = g.op("Add", [x, linear(ctx, h, 3, `blocks.${l}.mlp.fc2`)]);
  }
  const pooled = g.op("ReduceMean", [layerNorm(ctx, x, "norm")], [
    attr.ints("axes", [1]),
    attr.int("keepdims", 0),
  ]);
  const emb = linear(ctx, pooled, 2, "feature", IO.embedding);
  cosineHead(ctx, emb, config, logitScale);
}

/**
 * Float64 CPU reference of the ViT forward (the shared model contract), written for clarity, not speed.
 * Exported models and GPU kernels are checked against it.
 *
 * image [B, image*image] -> patches [B, T, patch*patch] -> patch_embed -> + pos_embed
 * -> depth x { x += proj(MHA(ln1(x))); x += fc2(gelu_tanh(fc1(ln2(x)))) } -> norm -> mean over tokens
 * -> feature = embedding -> logits_c = s * cos(embedding, W_c) of the head.
 * Every LayerNorm uses eps 1e-5 and the biased variance. LoRA may sit on any linear, including the head,
 * whose cosine then uses the effective weight W + s g B1 A1 + s (1 - g) B2 A2 of each example.
 */

import { linearModules, tokens, type VitConfig } from "../src/models/config.ts";
import type { HostTensor, LoraModule, LoraSet, Weights } from "../src/export/types.ts";

/** Options of the reference forward. */
export interface RefVitOptions {
  /** s of the cosine head: logits = s * cos(embedding, W_c). */
  logitScale: number;
  lora?: LoraSet;
  /** Per-example gate g; required exactly when some LoRA module has a second branch. */
  gate?: Float64Array;
}

/** Reference outputs, row-major: embedding [B, embedDim], logits [B, classes]. */
export interface RefVitOutputs {
  embedding: Float64Array;
  logits: Float64Array;
}

export const LN_EPS = 1e-5;
/** Floor on vector norms in the cosine head (as torch's F.normalize). */
export const NORM_EPS = 1e-12;

function param(weights: Weights, name: string, shape: number[]): Float64Array {
  const t = weights[name];
  if (t === undefined) throw new Error(`reference: missing weight "${name}"`);
  if (t.shape.join(",") !== shape.join(",")) {
    throw new Error(`reference: "${name}" expected shape [${shape}], found [${t.shape}]`);
  }
  return Float64Array.from(t.data);
}

/** x [n, in] times M^T for M [rows, in] stored row-major: [n, rows]. */
function matmulT(x: Float64Array, n: number, m: Float64Array, rows: number, inDim: number): Float64Array {
  const y = new Float64Array(n * rows);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < rows; o++) {
      let acc = 0;
      for (let k = 0; k < inDim; k++) acc += x[i * inDim + k] * m[o * inDim + k];
      y[i * rows + o] = acc;
    }
  }
  return y;
}

/** y = x W^T + b + s g (x A1^T) B1^T + s (1 - g) (x A2^T) B2^T for x [n, in]; plain LoRA uses g = 1. */
export function refLinear(
  x: Float64Array,
  n: number,
  w: HostTensor,
  b: HostTensor | undefined,
  lora?: LoraModule,
  g = 1,
): Float64Array {
  const [out, inDim] = w.shape;
  const y = matmulT(x, n, Float64Array.from(w.data), out, inDim);
  if (b !== undefined) {
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < out; o++) y[i * out + o] += b.data[o];
    }
  }
  if (lora === undefined) return y;
  const branch = (a: HostTensor, bUp: HostTensor, weight: number): void => {
    const r = a.shape[0];
    const h = matmulT(x, n, Float64Array.from(a.data), r, inDim);
    const up = matmulT(h, n, Float64Array.from(bUp.data), out, r);
    for (let i = 0; i < y.length; i++) y[i] += lora.scale * weight * up[i];
  };
  const gated = lora.A2 !== undefined;
  branch(lora.A1, lora.B1, gated ? g : 1);
  if (gated) branch(lora.A2!, lora.B2!, 1 - g);
  return y;
}

/** LayerNorm over the last axis of x [n, d] with eps 1e-5. */
export function refLayerNorm(x: Float64Array, n: number, w: Float64Array, b: Float64Array): Float64Array {
  const d = w.length;
  const y = new Float64Array(x.length);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let k = 0; k < d; k++) mean += x[i * d + k];
    mean /= d;
    let v = 0;
    for (let k = 0; k < d; k++) v += (x[i * d + k] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + LN_EPS);
    for (let k = 0; k < d; k++) y[i * d + k] = (x[i * d + k] - mean) * inv * w[k] + b[k];
  }
  return y;
}

/** gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** Multi-head self-attention (no mask) over qkv [T, 3d]; returns the merged heads [T, d]. */
export function refAttention(qkv: Float64Array, t: number, d: number, heads: number): Float64Array {
  const dh = d / heads;
  const out = new Float64Array(t * d);
  const p = new Float64Array(t);
  for (let j = 0; j < heads; j++) {
    for (let q = 0; q < t; q++) {
      let max = -Infinity;
      for (let k = 0; k < t; k++) {
        let s = 0;
        for (let e = 0; e < dh; e++) s += qkv[q * 3 * d + j * dh + e] * qkv[k * 3 * d + d + j * dh + e];
        p[k] = s / Math.sqrt(dh);
        max = Math.max(max, p[k]);
      }
      let sum = 0;
      for (let k = 0; k < t; k++) sum += p[k] = Math.exp(p[k] - max);
      for (let e = 0; e < dh; e++) {
        let acc = 0;
        for (let k = 0; k < t; k++) acc += p[k] * qkv[k * 3 * d + 2 * d + j * dh + e];
        out[q * d + j * dh + e] = acc / sum;
      }
    }
  }
  return out;
}

/** Patches of one image [image*image] as [T, patch*patch], patch p = py*(image/patch)+px, pixel iy*patch+ix. */
export function refPatchify(image: ArrayLike<number>, config: VitConfig): Float64Array {
  const { image: side, patch } = config;
  const grid = side / patch;
  const out = new Float64Array(grid * grid * patch * patch);
  for (let py = 0; py < grid; py++) {
    for (let px = 0; px < grid; px++) {
      for (let iy = 0; iy < patch; iy++) {
        for (let ix = 0; ix < patch; ix++) {
          const p = py * grid + px;
          out[p * patch * patch + iy * patch + ix] = image[(py * patch + iy) * side + px * patch + ix];
        }
      }
    }
  }
  return out;
}

/** Head weight with LoRA merged for gate g: W + s g B1 A1 + s (1 - g) B2 A2 (plain: W + s B1 A1). */
export function refEffectiveWeight(w: HostTensor, lora: LoraModule | undefined, g = 1): Float64Array {
  const [out, inDim] = w.shape;
  const eff = Float64Array.from(w.data);
  if (lora === undefined) return eff;
  const add = (a: HostTensor, b: HostTensor, weight: number): void => {
    const r = a.shape[0];
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inDim; i++) {
        let acc = 0;
        for (let k = 0; k < r; k++) acc += b.data[o * r + k] * a.data[k * inDim + i];
        eff[o * inDim + i] += lora.scale * weight * acc;
      }
    }
  };
  const gated = lora.A2 !== undefined;
  add(lora.A1, lora.B1, gated ? g : 1);
  if (gated) add(lora.A2!, lora.B2!, 1 - g);
  return eff;
}

/** Forward `batch` images (row-major [batch, image*image]) through the ViT in float64. */
export function refVitForward(
  config: VitConfig,
  weights: Weights,
  images: ArrayLike<number>,
  batch: number,
  options: RefVitOptions,
): RefVitOutputs {
  const { dim: d, heads, embedDim: e, classes: c } = config;
  const t = tokens(config);
  const lora = options.lora ?? {};
  const known = new Set(linearModules(config).map((m) => m.path));
  for (const path of Object.keys(lora)) {
    if (!known.has(path)) throw new Error(`reference: no module "${path}"`);
  }
  const gated = Object.values(lora).some((l) => l.A2 !== undefined);
  if (gated && options.gate?.length !== batch) {
    throw new Error(`reference: gated LoRA needs a gate of length ${batch}, found ${options.gate?.length}`);
  }
  if (!gated && options.gate !== undefined) {
    throw new Error("reference: a gate was given but no LoRA is gated");
  }
  if (images.length !== batch * config.image * config.image) {
    throw new Error(
      `reference: expected ${batch * config.image * config.image} pixels, found ${images.length}`,
    );
  }
  const embedding = new Float64Array(batch * e);
  const logits = new Float64Array(batch * c);
  const pos = param(weights, "pos_embed", [t, d]);
  const pixels = config.image * config.image;

  for (let b = 0; b < batch; b++) {
    const g = gated ? options.gate![b] : 1;
    const lin = (x: Float64Array, n: number, path: string): Float64Array => {
      if (weights[`${path}.weight`] === undefined) {
        throw new Error(`reference: missing weight "${path}.weight"`);
      }
      return refLinear(x, n, weights[`${path}.weight`], weights[`${path}.bias`], lora[path], g);
    };
    const ln = (x: Float64Array, name: string): Float64Array =>
      refLayerNorm(x, t, param(weights, `${name}.weight`, [d]), param(weights, `${name}.bias`, [d]));

    const img = Array.prototype.slice.call(images, b * pixels, (b + 1) * pixels) as number[];
    let x = lin(refPatchify(img, config), t, "patch_embed");
    for (let i = 0; i < x.length; i++) x[i] += pos[i];
    for (let l = 0; l < config.depth; l++) {
      const attn = refAttention(lin(ln(x, `blocks.${l}.ln1`), t, `blocks.${l}.attn.qkv`), t, d, heads);
      const a = lin(attn, t, `blocks.${l}.attn.proj`);
      x = x.map((v, i) => v + a[i]);
      const h = lin(ln(x, `blocks.${l}.ln2`), t, `blocks.${l}.mlp.fc1`).map(geluTanh);
      const m = lin(h, t, `blocks.${l}.mlp.fc2`);
      x = x.map((v, i) => v + m[i]);
    }
    x = ln(x, "norm");
    const pooled = new Float64Array(d);
    for (let k = 0; k < t; k++) for (let j = 0; j < d; j++) pooled[j] += x[k * d + j] / t;
    const emb = lin(pooled, 1, "feature");
    embedding.set(emb, b * e);

    const w = refEffectiveWeight(weights["head.weight"], lora["head"], g);
    const embNorm = Math.max(Math.hypot(...emb), NORM_EPS);
    for (let k = 0; k < c; k++) {
      let dot = 0;
      let sq = 0;
      for (let j = 0; j < e; j++) {
        dot += emb[j] * w[k * e + j];
        sq += w[k * e + j] ** 2;
      }
      logits[b * c + k] = options.logitScale * dot / (embNorm * Math.max(Math.sqrt(sq), NORM_EPS));
    }
  }
  return { embedding, logits };
}

/** Seeded uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded standard normal generator (Box-Muller over mulberry32). */
export function normal(seed: number): () => number {
  const u = rng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

function tensor(shape: number[], f: () => number): HostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = f();
  return { shape, data };
}

/** Random ViT weights: linears N(0, 1/in), biases N(0, 0.1^2), LayerNorm weights near 1, head N(0, 1). */
export function randomVitWeights(config: VitConfig, seed: number): Weights {
  const n = normal(seed);
  const d = config.dim;
  const w: Weights = { pos_embed: tensor([tokens(config), d], () => 0.5 * n()) };
  for (const m of linearModules(config)) {
    const std = m.path === "head" ? 1 : 1 / Math.sqrt(m.in);
    w[`${m.path}.weight`] = tensor([m.out, m.in], () => std * n());
    if (m.bias) w[`${m.path}.bias`] = tensor([m.out], () => 0.1 * n());
  }
  const lns = ["norm"];
  for (let i = 0; i < config.depth; i++) lns.push(`blocks.${i}.ln1`, `blocks.${i}.ln2`);
  for (const ln of lns) {
    w[`${ln}.weight`] = tensor([d], () => 1 + 0.1 * n());
    w[`${ln}.bias`] = tensor([d], () => 0.1 * n());
  }
  return w;
}

/** Random LoRA on `paths` with non-zero B (so the adapters change the output), plain or gated. */
export function randomLora(
  config: VitConfig,
  paths: string[],
  options: { rank: number; seed: number; scale?: number; gated?: boolean },
): LoraSet {
  const n = normal(options.seed);
  const modules = new Map(linearModules(config).map((m) => [m.path, m]));
  const out: LoraSet = {};
  for (const path of paths) {
    const m = modules.get(path);
    if (m === undefined) throw new Error(`randomLora: no module "${path}"`);
    const r = options.rank;
    const a = (): HostTensor => tensor([r, m.in], () => n() / Math.sqrt(m.in));
    const b = (): HostTensor => tensor([m.out, r], () => 0.5 * n());
    out[path] = { scale: options.scale ?? 1, A1: a(), B1: b() };
    if (options.gated) Object.assign(out[path], { A2: a(), B2: b() });
  }
  return out;
}

/** `batch` random images with pixels uniform in [0, 1]. */
export function randomImages(config: VitConfig, batch: number, seed: number): Float32Array {
  const u = rng(seed);
  return Float32Array.from({ length: batch * config.image * config.image }, u);
}

/**
 * The benchmark workload every peer runs: one LoRA ViT-tiny training step on a fixed synthetic batch.
 * Initial values and the batch come from one seeded generator so that peers (TF.js here, PyTorch in
 * torch_step.py, which ports the same generator) start from identical numbers and can be compared step by
 * step.
 */

/** Sizes of the benchmarked model, optimiser and batch. */
export interface PeerWorkload {
  image: number;
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  mlpRatio: number;
  embedDim: number;
  classes: number;
  /** LoRA rank on every `blocks.*.attn.qkv`; scale is 1. */
  rank: number;
  batch: number;
  lr: number;
  /** CosFace scale and margin: logits = s * (cos - m * onehot). */
  cosfaceS: number;
  cosfaceM: number;
  /** Standard deviation of every normal-initialised backbone/head tensor. */
  initStd: number;
}

/** The workload of `deno task bench`: 28x28 images, 7x7 patches (16 tokens of 49 pixels), d=64, 4 blocks. */
export const WORKLOAD: PeerWorkload = {
  image: 28,
  patch: 7,
  dim: 64,
  depth: 4,
  heads: 4,
  mlpRatio: 4,
  embedDim: 64,
  classes: 10,
  rank: 8,
  batch: 64,
  lr: 1e-3,
  cosfaceS: 64,
  cosfaceM: 0.4,
  initStd: 0.02,
};

/** How one named tensor is initialised. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** "normal" draws N(0, std^2) from the shared generator, in list order; the others draw nothing. */
  init: "normal" | "zeros" | "ones";
  std: number;
  trainable: boolean;
}

/** Every tensor of the model in generator order: frozen backbone, trainable head, then LoRA A/B per block. */
export function paramSpecs(w: PeerWorkload = WORKLOAD): ParamSpec[] {
  const d = w.dim;
  const hidden = d * w.mlpRatio;
  const tokens = (w.image / w.patch) ** 2;
  const out: ParamSpec[] = [];
  const normal = (name: string, shape: number[], std = w.initStd, trainable = false): void => {
    out.push({ name, shape, init: "normal", std, trainable });
  };
  const fill = (name: string, shape: number[], init: "zeros" | "ones", trainable = false): void => {
    out.push({ name, shape, init, std: 0, trainable });
  };
  const linear = (path: string, inDim: number, outDim: number): void => {
    normal(`${path}.weight`, [outDim, inDim]);
    fill(`${path}.bias`, [outDim], "zeros");
  };
  linear("patch_embed", w.patch * w.patch, d);
  normal("pos_embed", [tokens, d]);
  for (let i = 0; i < w.depth; i++) {
    fill(`blocks.${i}.ln1.weight`, [d], "ones");
    fill(`blocks.${i}.ln1.bias`, [d], "zeros");
    linear(`blocks.${i}.attn.qkv`, d, 3 * d);
    linear(`blocks.${i}.attn.proj`, d, d);
    fill(`blocks.${i}.ln2.weight`, [d], "ones");
    fill(`blocks.${i}.ln2.bias`, [d], "zeros");
    linear(`blocks.${i}.mlp.fc1`, d, hidden);
    linear(`blocks.${i}.mlp.fc2`, hidden, d);
  }
  fill("norm.weight", [d], "ones");
  fill("norm.bias", [d], "zeros");
  linear("feature", d, w.embedDim);
  normal("head.weight", [w.classes, w.embedDim], w.initStd, true);
  for (let i = 0; i < w.depth; i++) {
    // A ~ N(0, 1/r) as a variance, B = 0: the adapter starts as the identity change.
    normal(`blocks.${i}.attn.qkv.lora_A`, [w.rank, d], 1 / Math.sqrt(w.rank), true);
    fill(`blocks.${i}.attn.qkv.lora_B`, [3 * d, w.rank], "zeros", true);
  }
  return out;
}

/** A 32-bit xorshift generator; torch_step.py has the same three shifts so both peers draw equal numbers. */
export class SeededRng {
  #state: number;
  constructor(seed: number) {
    this.#state = (seed >>> 0) || 1;
  }
  /** Uniform in (0, 1). */
  uniform(): number {
    let x = this.#state;
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    this.#state = x;
    return (x + 0.5) / 4294967296;
  }
  /** Standard normal by Box-Muller, one value per pair of uniforms. */
  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** Initial values of every tensor plus the fixed batch (pixels in [0,1], labels in [0,classes)). */
export interface PeerInit {
  params: Map<string, Float32Array>;
  specs: ParamSpec[];
  images: Float32Array;
  labels: Int32Array;
}

/** Draws the parameters (in `paramSpecs` order), then the batch images, then the labels. */
export function makeInit(seed: number, w: PeerWorkload = WORKLOAD): PeerInit {
  const rng = new SeededRng(seed);
  const specs = paramSpecs(w);
  const params = new Map<string, Float32Array>();
  for (const s of specs) {
    const v = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    if (s.init === "ones") v.fill(1);
    if (s.init === "normal") { for (let i = 0; i < v.length; i++) v[i] = s.std * rng.normal(); }
    params.set(s.name, v);
  }
  const images = new Float32Array(w.batch * w.image * w.image);
  for (let i = 0; i < images.length; i++) images[i] = rng.uniform();
  const labels = new Int32Array(w.batch);
  for (let i = 0; i < labels.length; i++) labels[i] = Math.floor(rng.uniform() * w.classes);
  return { params, specs, images, labels };
}

/** Total and trainable element counts of a spec list. */
export function countParams(specs: ParamSpec[]): { total: number; trainable: number } {
  let total = 0;
  let trainable = 0;
  for (const s of specs) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    total += n;
    if (s.trainable) trainable += n;
  }
  return { total, trainable };
}

/** Median of a list of numbers (mean of the middle two for even lengths). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** What each peer reports for the training step. */
export interface PeerStepResult {
  backend: string;
  adapterInfo?: string;
  /** Median wall time of the timed steps, each ending with the loss read back to the host. */
  stepMsMedian: number;
  /** Every timed step's wall time, in order (the machine is shared: the spread shows contention). */
  stepMsAll: number[];
  /** Number of timed steps (warm-up steps excluded). */
  steps: number;
  params: { total: number; trainable: number };
  /** Loss of every step in order, warm-up steps first. */
  losses: number[];
}

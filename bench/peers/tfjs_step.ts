/**
 * TF.js peer: the benchmark's LoRA ViT-tiny training step (see workload.ts) built from TF.js ops, timed on
 * TF.js's WebGPU backend (over Deno's navigator.gpu) or its CPU backend.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { selectBackend } from "../../src/host/webgpu_backend.ts";
import {
  countParams,
  makeInit,
  median,
  type PeerStepResult,
  type PeerWorkload,
  WORKLOAD,
} from "./workload.ts";

/** The TF.js version the peer runs (tfjs-core's). */
export const TFJS_VERSION: string = tf.version_core;

/** A TF.js backend this peer can run on. */
export type TfjsBackend = "webgpu" | "cpu";

/** Options of `tfjsPeer`. */
export interface TfjsPeerOptions {
  /** Untimed steps first (pipeline compilation, allocation). Default 3. */
  warmup?: number;
  /** Timed steps; the median is reported. Default 10. */
  steps?: number;
  /** Seed of the shared initial values and batch. Default 1. */
  seed?: number;
  workload?: PeerWorkload;
}

/** One matmul shape, A [m, k] @ B [k, n]; with `transB` B is stored [n, k] and read transposed. */
export interface MatmulShape {
  m: number;
  k: number;
  n: number;
  transB?: boolean;
}

/** Measured throughput of one matmul shape. */
export interface MatmulResult extends MatmulShape {
  /** Products queued per synchronised sample. */
  inner: number;
  /** Median time of one product. */
  msMedian: number;
  gflops: number;
}

/** Square 256/512/1024 plus the workload's skinny shapes: qkv (1024x64 @ 64x192), LoRA A (1024x64 @ 64x8). */
export const MATMUL_SHAPES: MatmulShape[] = [
  { m: 256, k: 256, n: 256 },
  { m: 512, k: 512, n: 512 },
  { m: 1024, k: 1024, n: 1024 },
  { m: 1024, k: 64, n: 192 },
  { m: 1024, k: 64, n: 8 },
];

/** Switches TF.js to `backend`; for WebGPU also returns the adapter's description. */
export async function useTfjsBackend(backend: TfjsBackend): Promise<string | undefined> {
  // Production mode: no debug checks, and no "install tfjs-node" banner in the bench output.
  tf.enableProdMode();
  // the same native backends as mixtune's device, whichever asks for an adapter first
  selectBackend();
  const ok = await tf.setBackend(backend);
  if (!ok) {
    throw new Error(`TF.js backend "${backend}" failed to initialise (for webgpu: is navigator.gpu there?)`);
  }
  await tf.ready();
  if (backend !== "webgpu") return undefined;
  const adapter = await navigator.gpu.requestAdapter();
  const info = adapter?.info;
  return info ? `${info.description || info.device} (vendor ${info.vendor})` : undefined;
}

/** A built TF.js training step: call `step()` repeatedly; each call resolves to that step's loss. */
export interface TfjsStep {
  step(): Promise<number>;
  params: { total: number; trainable: number };
  dispose(): void;
}

/** Builds the model, batch and Adam optimiser on the current TF.js backend. */
export function createTfjsStep(seed = 1, w: PeerWorkload = WORKLOAD): TfjsStep {
  const init = makeInit(seed, w);
  const t: Record<string, tf.Tensor> = {};
  const trainable: tf.Variable[] = [];
  for (const s of init.specs) {
    const value = tf.tensor(init.params.get(s.name)!, s.shape, "float32");
    if (s.trainable) {
      const v = tf.variable(value, true, s.name.replaceAll(".", "/"));
      value.dispose();
      trainable.push(v);
      t[s.name] = v;
    } else {
      t[s.name] = value;
    }
  }
  const images = tf.tensor2d(init.images, [w.batch, w.image * w.image]);
  const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(init.labels, "int32"), w.classes).toFloat());
  const optimizer = tf.train.adam(w.lr, 0.9, 0.999, 1e-8);
  const loss = () => lossOf(w, t, images, onehot);
  const params = {
    total: Object.values(t).reduce((a, x) => a + x.size, 0),
    trainable: trainable.reduce((a, x) => a + x.size, 0),
  };
  if (params.total !== countParams(init.specs).total) {
    throw new Error("TF.js peer built a model of the wrong size");
  }
  return {
    async step(): Promise<number> {
      const cost = optimizer.minimize(loss, true, trainable)!;
      // Reading the loss back waits for the queue, which also holds this step's Adam updates.
      const value = (await cost.data())[0];
      cost.dispose();
      return value;
    },
    params,
    dispose(): void {
      tf.dispose([...Object.values(t), images, onehot]);
      optimizer.dispose();
    },
  };
}

/** Runs warm-up then timed training steps on one backend and reports the median step time and all losses. */
export async function tfjsPeer(backend: TfjsBackend, opts: TfjsPeerOptions = {}): Promise<PeerStepResult> {
  const warmup = opts.warmup ?? 3;
  const steps = opts.steps ?? 10;
  const adapterInfo = await useTfjsBackend(backend);
  const run = createTfjsStep(opts.seed ?? 1, opts.workload ?? WORKLOAD);
  const losses: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const t0 = performance.now();
    losses.push(await run.step());
    if (i >= warmup) times.push(performance.now() - t0);
  }
  run.dispose();
  const result: PeerStepResult = {
    backend: `tfjs-${backend}`,
    stepMsMedian: median(times),
    stepMsAll: times,
    steps,
    params: run.params,
    losses,
  };
  if (adapterInfo) result.adapterInfo = adapterInfo;
  return result;
}

function linear(t: Record<string, tf.Tensor>, path: string, x: tf.Tensor): tf.Tensor {
  return tf.matMul(x, t[`${path}.weight`], false, true).add(t[`${path}.bias`]);
}

function layerNorm(t: Record<string, tf.Tensor>, path: string, x: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(1e-5))).mul(t[`${path}.weight`]).add(t[`${path}.bias`]);
}

function geluTanh(x: tf.Tensor): tf.Tensor {
  const inner = x.add(x.square().mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(tf.tanh(inner).add(1));
}

/** Heads-first view: [B*T, d] -> [B, H, T, dh]. */
function splitHeads(x: tf.Tensor, w: PeerWorkload, tokens: number): tf.Tensor {
  return x.reshape([w.batch, tokens, w.heads, w.dim / w.heads]).transpose([0, 2, 1, 3]);
}

function attention(
  t: Record<string, tf.Tensor>,
  i: number,
  x: tf.Tensor,
  w: PeerWorkload,
  tokens: number,
): tf.Tensor {
  const path = `blocks.${i}.attn.qkv`;
  const lora = tf.matMul(tf.matMul(x, t[`${path}.lora_A`], false, true), t[`${path}.lora_B`], false, true);
  const qkv = linear(t, path, x).add(lora);
  const [q, k, v] = tf.split(qkv, 3, 1).map((part) => splitHeads(part, w, tokens));
  const scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(w.dim / w.heads));
  const merged = tf.matMul(tf.softmax(scores), v).transpose([0, 2, 1, 3]).reshape([w.batch * tokens, w.dim]);
  return linear(t, `blocks.${i}.attn.proj`, merged);
}

function l2rows(x: tf.Tensor): tf.Tensor {
  return x.div(tf.sqrt(x.square().sum(-1, true).add(1e-12)));
}

function lossOf(
  w: PeerWorkload,
  t: Record<string, tf.Tensor>,
  images: tf.Tensor,
  onehot: tf.Tensor,
): tf.Scalar {
  const g = w.image / w.patch;
  const tokens = g * g;
  // Pixel (py*patch+iy, px*patch+ix) goes to token py*g+px, feature iy*patch+ix.
  const patches = images.reshape([w.batch, g, w.patch, g, w.patch]).transpose([0, 1, 3, 2, 4])
    .reshape([w.batch * tokens, w.patch * w.patch]);
  let h = linear(t, "patch_embed", patches).reshape([w.batch, tokens, w.dim]).add(t["pos_embed"])
    .reshape([w.batch * tokens, w.dim]);
  for (let i = 0; i < w.depth; i++) {
    h = h.add(attention(t, i, layerNorm(t, `blocks.${i}.ln1`, h), w, tokens));
    const hidden = geluTanh(linear(t, `blocks.${i}.mlp.fc1`, layerNorm(t, `blocks.${i}.ln2`, h)));
    h = h.add(linear(t, `blocks.${i}.mlp.fc2`, hidden));
  }
  const pooled = layerNorm(t, "norm", h).reshape([w.batch, tokens, w.dim]).mean(1);
  const emb = linear(t, "feature", pooled);
  const cos = tf.matMul(l2rows(emb), l2rows(t["head.weight"]), false, true);
  const logits = cos.sub(onehot.mul(w.cosfaceM)).mul(w.cosfaceS);
  return tf.logSoftmax(logits).mul(onehot).sum(-1).mean().neg() as tf.Scalar;
}

/**
 * Median time and GFLOPS of A @ B for each shape. A sample queues `inner` products and reads the last one
 * back, so the readback latency (about 10 ms on WebGPU here) is shared instead of hiding small products.
 */
export async function tfjsMatmulGflops(
  backend: TfjsBackend,
  sizes: MatmulShape[] = MATMUL_SHAPES,
  opts: { warmup?: number; samples?: number } = {},
): Promise<MatmulResult[]> {
  await useTfjsBackend(backend);
  const warmup = opts.warmup ?? 1;
  const out: MatmulResult[] = [];
  for (const s of sizes) {
    const a = tf.randomUniform([s.m, s.k], -1, 1, "float32", 7);
    const b = tf.randomUniform([s.k, s.n], -1, 1, "float32", 8);
    const flop = 2 * s.m * s.k * s.n;
    // About 0.2 GFLOP per sample and fewer samples for big products: a slow backend stays within seconds.
    const inner = Math.min(50, Math.max(1, Math.round(2e8 / flop)));
    const samples = opts.samples ?? (flop > 1e9 ? 3 : 5);
    const times: number[] = [];
    for (let i = 0; i < warmup + samples; i++) {
      const t0 = performance.now();
      const products: tf.Tensor[] = [];
      for (let j = 0; j < inner; j++) products.push(tf.matMul(a, b));
      await products[inner - 1].data();
      const ms = (performance.now() - t0) / inner;
      tf.dispose(products);
      if (i >= warmup) times.push(ms);
    }
    tf.dispose([a, b]);
    const ms = median(times);
    out.push({ ...s, inner, msMedian: ms, gflops: flop / (ms * 1e6) });
  }
  return out;
}

/**
 * Running exported models with onnxruntime-node (CPU): raw runs, a chunked evaluation helper, and the
 * parity measure between an exported model and a reference.
 *
 * Under Deno the native addon needs `--allow-ffi`; model paths are read by Deno (so `--allow-read` covers
 * them) and handed to onnxruntime as bytes. The package's install script is not needed (it only fetches
 * CUDA providers): the CPU binaries ship inside the npm package.
 */

import type * as Ort from "onnxruntime-node";
import { ExportError } from "./errors.ts";

// Imported on first use, so that importing mixtune (and running pipelines without ONNX) needs no --allow-ffi.
let loaded: Promise<typeof Ort> | undefined;
function onnxruntime(): Promise<typeof Ort> {
  loaded ??= import("onnxruntime-node");
  return loaded;
}

/** A float32 tensor fed to or read from a model. */
export interface OrtTensor {
  data: Float32Array;
  dims: number[];
}

/** Session settings; `threads` caps the intra-op thread pool (0 lets onnxruntime choose). */
export interface OrtOptions {
  threads?: number;
}

/** Open a session on a model file path or its bytes. */
export async function openSession(
  model: string | Uint8Array,
  options: OrtOptions = {},
): Promise<Ort.InferenceSession> {
  const ort = await onnxruntime();
  const opts: Ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.threads ?? 0,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    logSeverityLevel: 3,
  };
  // Reading the file here keeps it under Deno's read permission (the addon would read it natively).
  const bytes = typeof model === "string" ? await Deno.readFile(model) : model;
  return await ort.InferenceSession.create(bytes, opts);
}

async function runSession(
  session: Ort.InferenceSession,
  feeds: Record<string, OrtTensor>,
): Promise<Record<string, OrtTensor>> {
  const missing = session.inputNames.filter((n) => !(n in feeds));
  const extra = Object.keys(feeds).filter((n) => !session.inputNames.includes(n));
  if (missing.length > 0 || extra.length > 0) {
    throw new ExportError(
      `model inputs are [${session.inputNames.join(", ")}], fed [${Object.keys(feeds).join(", ")}]`,
    );
  }
  const ort = await onnxruntime();
  const ortFeeds: Record<string, Ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor("float32", t.data, t.dims);
  const results = await session.run(ortFeeds);
  const out: Record<string, OrtTensor> = {};
  for (const name of session.outputNames) {
    const t = results[name];
    out[name] = { data: Float32Array.from(t.data as Float32Array), dims: t.dims.map(Number) };
    t.dispose();
  }
  return out;
}

/** Run a model once on float32 feeds and return every output. */
export async function runOnnx(
  model: string | Uint8Array,
  feeds: Record<string, OrtTensor>,
  options: OrtOptions = {},
): Promise<Record<string, OrtTensor>> {
  const session = await openSession(model, options);
  try {
    return await runSession(session, feeds);
  } finally {
    await session.release();
  }
}

/** Options of {@link ortEmbeddings}. */
export interface OrtEmbeddingOptions extends OrtOptions {
  /** Images per run (default 256). */
  chunk?: number;
  /** Per-image gate, required exactly when the model has a `gate` input. */
  gate?: ArrayLike<number>;
}

/** Embeddings and logits of `count` images (row-major [count, pixels]), run in chunks. */
export interface OrtEmbeddings {
  embedding: Float32Array;
  logits: Float32Array;
  embedDim: number;
  classes: number;
}

/** Evaluate an exported ViT on many images with onnxruntime's CPU backend, `chunk` images at a time. */
export async function ortEmbeddings(
  model: string | Uint8Array,
  images: Float32Array,
  count: number,
  options: OrtEmbeddingOptions = {},
): Promise<OrtEmbeddings> {
  if (!Number.isInteger(count) || count <= 0 || images.length % count !== 0) {
    throw new ExportError(`ortEmbeddings: ${images.length} pixels do not split into ${count} images`);
  }
  const chunk = options.chunk ?? 256;
  const pixels = images.length / count;
  const session = await openSession(model, options);
  try {
    const gated = session.inputNames.includes("gate");
    if (gated && options.gate?.length !== count) {
      throw new ExportError(
        `ortEmbeddings: the model has a gate input; expected ${count} gates, found ${
          options.gate?.length ?? "none"
        }`,
      );
    }
    if (!gated && options.gate !== undefined) {
      throw new ExportError("ortEmbeddings: a gate was given but the model has no gate input");
    }
    const embeds: Float32Array[] = [];
    const logits: Float32Array[] = [];
    let embedDim = 0;
    let classes = 0;
    for (let start = 0; start < count; start += chunk) {
      const n = Math.min(chunk, count - start);
      const feeds: Record<string, OrtTensor> = {
        image: { data: images.subarray(start * pixels, (start + n) * pixels), dims: [n, pixels] },
      };
      if (gated) {
        feeds.gate = {
          data: Float32Array.from(Array.prototype.slice.call(options.gate, start, start + n)),
          dims: [n],
        };
      }
      const out = await runSession(session, feeds);
      embeds.push(out.embedding.data);
      logits.push(out.logits.data);
      embedDim = out.embedding.dims[1];
      classes = out.logits.dims[1];
    }
    return { embedding: concat(embeds), logits: concat(logits), embedDim, classes };
  } finally {
    await session.release();
  }
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Agreement between two sets of outputs; see {@link parity}. */
export interface ParityResult {
  /** Largest relative error over all compared outputs. */
  maxRelError: number;
  /** Largest absolute difference over all compared outputs. */
  maxAbsError: number;
  /** Per output name: its own maxRelError and maxAbsError. */
  perOutput: Record<string, { maxRelError: number; maxAbsError: number }>;
}

/**
 * Compare model outputs with reference outputs, for every name in `reference`. Per output,
 * maxAbsError = max_i |a_i - b_i| and maxRelError = maxAbsError / max(max_i |b_i|, floor): the error
 * relative to the reference tensor's scale, which stays meaningful where single entries are near zero.
 */
export function parity<
  O extends Record<keyof O, ArrayLike<number> | OrtTensor>,
  R extends Record<keyof R, ArrayLike<number>>,
>(outputs: O, reference: R, floor = 1e-6): ParityResult {
  const result: ParityResult = { maxRelError: 0, maxAbsError: 0, perOutput: {} };
  const byName = outputs as Record<string, ArrayLike<number> | OrtTensor | undefined>;
  for (const [name, b] of Object.entries(reference) as [string, ArrayLike<number>][]) {
    const got = byName[name];
    if (got === undefined) {
      throw new ExportError(`parity: output "${name}" is missing (have ${Object.keys(outputs).join(", ")})`);
    }
    const a = "dims" in got ? got.data : got;
    if (a.length !== b.length) {
      throw new ExportError(`parity: output "${name}" has ${a.length} values, reference has ${b.length}`);
    }
    let abs = 0;
    let scale = 0;
    for (let i = 0; i < b.length; i++) {
      const diff = Math.abs(a[i] - b[i]);
      abs = Number.isNaN(diff) ? Infinity : Math.max(abs, diff);
      scale = Math.max(scale, Math.abs(b[i]));
    }
    const rel = abs / Math.max(scale, floor);
    result.perOutput[name] = { maxRelError: rel, maxAbsError: abs };
    result.maxRelError = Math.max(result.maxRelError, rel);
    result.maxAbsError = Math.max(result.maxAbsError, abs);
  }
  return result;
}

/** The valid pipelines the bad-input corpus breaks, and helpers to edit them at a spec path. */

/** One broken input: the pipeline file's content and the CLI arguments after the file. */
export interface BadInput {
  label: string;
  /** File content; `spec` is written as YAML. */
  content: string | Uint8Array | { spec: unknown };
  ext?: string;
  args?: string[];
  /** What the error must name: a spec path (`stages.pre.steps`), a flag (`--seed`) or `(file)`. */
  names: string;
}

/** A valid pipeline touching most keys (checked valid by the corpus test itself). */
export const BASE = {
  name: "corpus",
  seed: 1,
  domains: {
    old: {
      source: { kind: "mnist", digits: [0, 1, 2] },
      transforms: [
        { kind: "take", count: 100 },
        { kind: "fraction", fraction: 0.5 },
        { kind: "split", validation: 0.2 },
      ],
    },
    low: {
      source: { kind: "mnist", digits: [5, 6] },
      transforms: [
        { kind: "degrade", downsample: 4, blur: 1, noise: 0.1 },
        { kind: "mixQuality", degradedFraction: 0.5, downsample: 2 },
        { kind: "split", validation: 0.2 },
      ],
    },
  },
  model: {
    backbone: "vit",
    image: 28,
    patch: 7,
    dim: 16,
    depth: 1,
    heads: 2,
    mlpRatio: 2,
    embedDim: 8,
    classes: 10,
  },
  stages: {
    pre: {
      kind: "train",
      mix: {
        domains: ["old"],
        strategy: "temperature",
        temperature: { kind: "step", phases: [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }] },
      },
      trainable: ["*"],
      loss: { kind: "cosface", scale: 16, margin: 0.2 },
      optimizer: {
        kind: "adamw",
        lr: 0.002,
        weightDecay: 0.05,
        betas: [0.9, 0.999],
        eps: 1e-8,
        clip: 5,
        warmup: 1,
        decay: "cosine",
      },
      steps: 6,
      batch: 8,
      evalEvery: 3,
      logEvery: 2,
      checkpointEvery: 3,
      validation: { domains: ["old"], batches: 1 },
    },
    ft: {
      kind: "train",
      from: "pre",
      mix: { domains: ["old", "low"], strategy: "weights", weights: { old: 0.2, low: 0.8 } },
      adapters: [{
        targets: ["blocks.*.attn.qkv"],
        rank: 2,
        scale: { kind: "alpha", alpha: 4 },
        dropout: 0.1,
        init: "gaussian",
        gated: true,
      }],
      gate: {
        score: { kind: "sharpness", measure: "laplacian", reference: ["old", "low"] },
        mapping: { kind: "petalface", threshold: 0.15, clamp: true },
      },
      trainable: ["head"],
      loss: { kind: "arcface", scale: 16, margin: 0.2 },
      optimizer: { kind: "adamw", lr: 0.001 },
      steps: 4,
      batch: 8,
    },
    check: {
      kind: "evaluate",
      from: "ft",
      tasks: ["validation_loss", "recognition"],
      backend: "webgpu",
      domains: ["old"],
      recognition: [{ name: "r", gallery: "old", probes: ["low"] }],
    },
    onnx: { kind: "export", from: "ft", format: "onnx", opset: 17 },
  },
};

/** A small LM pipeline whose one domain has `source`. */
export const LM = {
  name: "lm",
  seed: 0,
  model: { backbone: "lm", context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 4 },
  domains: { en: { source: { kind: "udhr", language: "eng" } } },
  stages: {
    train: {
      kind: "train",
      mix: { domains: ["en"], strategy: "temperature", temperature: 1 },
      trainable: ["*"],
      loss: { kind: "lm" },
      optimizer: { kind: "adamw", lr: 1e-3 },
      steps: 10,
      batch: 8,
    },
  },
};

/** Any JSON value. */
export type Json = unknown;
/** A key or an index of a spec path. */
export type Step = string | number;

/** Every path in `value`, parents before children, with the value there. */
export function walk(value: Json, path: Step[] = [], out: [Step[], Json][] = []): [Step[], Json][] {
  if (path.length > 0) out.push([path, value]);
  if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i], out));
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) walk(v, [...path, k], out);
  }
  return out;
}

/** The spec path as messages print it: `stages.pre.mix.domains[0]`. */
export function specPath(path: Step[]): string {
  return path.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

export function setAt(spec: Json, path: Step[], value: Json | typeof DELETE): Json {
  const copy = structuredClone(spec) as Record<Step, Json>;
  let node = copy as Record<Step, Json>;
  for (const s of path.slice(0, -1)) node = node[s] as Record<Step, Json>;
  const last = path[path.length - 1];
  if (value === DELETE) delete node[last];
  else node[last] = value;
  return copy;
}

/** Passed to `setAt` to remove the key. */
export const DELETE: unique symbol = Symbol("delete");

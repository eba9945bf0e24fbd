/** Small models, random batches and starting weights shared by the training-step tests. */
import type { Batch } from "../src/compile/train_step.ts";
import { type LmConfig, type ModelConfig, tokens, type VitConfig } from "../src/models/config.ts";
import type { ModelGraph } from "../src/models/graph.ts";
import { initParams } from "../src/models/params.ts";
import { randoms } from "./_harness.ts";

/** A ViT small enough for the software adapter: 8 x 8 images in 4 x 4 patches (4 tokens). */
export const tinyVit: VitConfig = {
  backbone: "vit",
  image: 8,
  patch: 4,
  dim: 16,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  embedDim: 8,
  classes: 4,
};

/** A byte LM of the same width. */
export const tinyLm: LmConfig = { backbone: "lm", context: 8, dim: 16, depth: 1, heads: 2, mlpRatio: 2 };

/** A deterministic batch of `B` examples over `D` domains: random pixels or bytes, labels, weights, gate. */
export function randomBatch(config: ModelConfig, B: number, D: number, seed: number): Batch {
  const r = randoms(4 * B * 64 + 1024, seed, 0, 1);
  let k = 0;
  const next = () => r[k++];
  const ints = (n: number, max: number) =>
    Float32Array.from({ length: n }, () => Math.min(max - 1, Math.floor(next() * max)));
  const vit = config.backbone === "vit";
  const x = vit ? Float32Array.from({ length: B * config.image ** 2 }, next) : ints(B * tokens(config), 256);
  const labels = vit ? ints(B, config.classes) : ints(B * tokens(config), 256);
  const weights = Float32Array.from({ length: B }, () => 0.5 + next());
  const domains = new Float32Array(B * D);
  for (let i = 0; i < B; i++) domains[i * D + (i % D)] = 1;
  const gate = Float32Array.from({ length: B }, next);
  return { x, labels, weights, domains, gate };
}

/**
 * Starting weights for every parameter of `model`: the model's init, and LoRA A and B both random and
 * nonzero (B = 0, LoRA's usual init, would leave A without gradient on the first step).
 */
export function startWeights(model: ModelGraph, seed: number): Map<string, Float32Array> {
  const values = initParams(model.config, seed);
  let s = seed * 1000;
  for (const [name, p] of model.params) {
    if (!values.has(name)) values.set(name, randoms(p.size, ++s, -0.3, 0.3));
  }
  return values;
}

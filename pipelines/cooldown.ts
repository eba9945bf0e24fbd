/**
 * Cooldown: temperature sampling, scalarization, UniMax and a temperature schedule on six languages of very
 * different sizes, a small-scale reproduction of "Upsample or Upweight?" (NAACL 2025).
 *
 * Six byte-level LMs are trained from scratch with the same budget and compared on each language's
 * validation loss: T = 1 (proportional), T = 5, T = 100 (near uniform), scalarization at T = 5 (proportional
 * draws, loss weights p(i; 5) / p(i; 1)), UniMax, and Cooldown (T = 5 for the first half, then T = 1).
 * The YAML twin is cooldown.yaml; pipelines/cooldown_table.ts tabulates runs of several seeds and
 * pipelines/cooldown_variance.ts measures the gradient variance of scalarization against sampling.
 *
 * Sized for a CPU-only WebGPU adapter with 2 cores shared with other work: a stage took 31 to 395 s there
 * (0.13 to 1.6 s a step, with load and kernel versions), one seed of all six 5 to 25 minutes. This is far
 * below the paper's regime: a 1-block, 32-wide model sees 246 KB of text per stage, so even at T = 100 the
 * smallest language (vi, 38 KB) is seen about once, and overfitting it is out of reach. Closer to the paper
 * (a GPU, or hours here), change: model to { context: 64, dim: 128, depth: 4, heads: 4 }, steps to 3000,
 * warmup to 100, evalEvery to 150, validation.batches to 8 and UniMax's epochCap to 4. Then vi has 591
 * windows of 64 bytes and T = 100 draws about 26 epochs of it (T = 5 about 12), the regime where high
 * temperatures overfit.
 */

import {
  adamw,
  cooldown,
  dictionary,
  lm,
  lmLoss,
  pipeline,
  scalarization,
  split,
  temperature,
  train,
  unimax,
} from "../mod.ts";
import type { TrainOptions } from "../mod.ts";

// Largest first; the "high-resource" group of the table is el, tr, ru and the "low-resource" one fr, es, vi.
const languages = ["el", "tr", "ru", "fr", "es", "vi"] as const;

// Shared by every stage. batch 32 x 32 bytes = 1,024 bytes a step; 240 steps x 32 = 7,680 windows (246 KB).
// Validation: the first 4 batches (128 windows, 4 KB) of each language's held-out tail, every 30 steps.
const common: Omit<TrainOptions<never, string>, "mix"> = {
  loss: lmLoss(),
  optimizer: adamw({ lr: 3e-3, weightDecay: 0.1, warmup: 30, decay: "cosine", clip: 1 }),
  steps: 240,
  batch: 32,
  evalEvery: 30,
  validation: { batches: 4 },
};

// Training windows of 32 bytes after the 5% split: el 576,589, tr 159,634, ru 93,633, fr 26,568,
// es 16,472, vi 1,183 (487 : 1). vi's 5% tail has 62 windows, so vi is validated on all of them.
// Draw probabilities (el / tr / ru / fr / es / vi) and vi epochs over 7,680 draws:
//   T = 1     66.0 / 18.3 / 10.7 / 3.0 / 1.9 / 0.14%   vi 0.01 epochs
//   T = 5     26.4 / 20.4 / 18.3 / 14.3 / 13.0 / 7.7%  vi 0.50 epochs
//   T = 100   17.1 / 16.9 / 16.8 / 16.6 / 16.5 / 16.1% vi 1.04 epochs
const spec = pipeline("cooldown")
  .seed(1)
  .domain("el", dictionary("el"), split(0.05))
  .domain("tr", dictionary("tr"), split(0.05))
  .domain("ru", dictionary("ru"), split(0.05))
  .domain("fr", dictionary("fr"), split(0.05))
  .domain("es", dictionary("es"), split(0.05))
  .domain("vi", dictionary("vi"), split(0.05))
  // 2 heads of 32 / 2 = 16 dims; MLP 32 x 4 = 128 wide; 30,432 parameters (8,192 in the byte embedding).
  .model(lm({ context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 4 }))
  .stage("t1", train({ ...common, mix: temperature(languages, 1) }))
  .stage("t5", train({ ...common, mix: temperature(languages, 5) }))
  .stage("t100", train({ ...common, mix: temperature(languages, 100) }))
  // Draws as T = 1; an example of language i weighs p(i; 5) / p(i; 1): el 0.40 ... vi 57.
  .stage("scalar5", train({ ...common, mix: scalarization(languages, 5) }))
  // 7,680 / 6 = 1,280 each, vi capped at 1 epoch (1,183); es, fr, ru, tr, el share the other 6,497 evenly
  // (1,299 each). A cap of 4 would not bind at this budget (UniMax would equal uniform sampling).
  .stage("unimax", train({ ...common, mix: unimax(languages, { epochCap: 1 }) }))
  // T = 5 for steps 0-119, then T = 1 for steps 120-239.
  .stage("cooldown", train({ ...common, mix: temperature(languages, cooldown(5, 1, 0.5)) }))
  // Three seeds (`--seed` also reshuffles the data, so each seed has its own validation slice):
  // `deno task sweep pipelines/cooldown.ts` runs them and writes runs/cooldown/sweep.json and sweep.html.
  .sweep({ seed: [1, 2, 3] });

export default spec;

/**
 * Cooldown where T = 5 overfits: the three methods of pipelines/cooldown.ts that matter for the paper's
 * claim (T = 1, T = 5, Cooldown), at a scale where high temperature repeats the smallest language tens of
 * times. "Upsample or Upweight?" (NAACL 2025): high T overfits the low-resource domains late in training;
 * Cooldown (T = 5 for the first half, then T = 1) keeps the high-resource loss near T = 1's and the
 * low-resource gains of high T. The YAML twin is cooldown_overfit.yaml.
 *
 * What reaches the regime on a CPU-only adapter: three languages of three scripts (el and ru large; vi, the
 * only Latin-script one, cut to its first 4,000 bytes), 16-byte windows and 2,000 steps,
 * so T = 5 draws vi about 34 times and its validation loss turns upward after 9 to 15 of them. A stage
 * took 3.3 to 4.6 minutes on 2 cores shared with other work (two stages at once, load average 6 to 9):
 * the nine of the 3-seed sweep 35 minutes of stage time, about 20 minutes of wall time with --jobs 2.
 */

import {
  adamw,
  cooldown,
  dictionary,
  lm,
  lmLoss,
  pipeline,
  split,
  take,
  temperature,
  train,
} from "../mod.ts";
import type { TrainOptions } from "../mod.ts";

// Largest first: el and ru are the high-resource languages, vi the low-resource one.
const languages = ["el", "ru", "vi"] as const;

// Shared by every stage. batch 32 x 16 bytes = 512 bytes a step; 2,000 steps x 32 = 64,000 windows.
// Validation every 50 steps on the first 4 batches (128 windows) of el's and ru's held-out tails, and on all
// 74 windows of vi's.
const common: Omit<TrainOptions<never, string>, "mix"> = {
  loss: lmLoss(),
  optimizer: adamw({ lr: 3e-3, weightDecay: 0.1, warmup: 50, decay: "cosine", clip: 1 }),
  steps: 2000,
  batch: 32,
  evalEvery: 50,
  validation: { batches: 4 },
};

// Training windows of 16 bytes: el 1,153,178 and ru 187,267 after the 5% split; vi 4,000 bytes, 30% held
// out (1,200 bytes, 74 windows), 2,800 bytes left: 174 windows (6,628 : 1 against el).
// Draw probabilities (el / ru / vi) and epochs of vi over the 64,000 draws:
//   T = 1     86.0 / 14.0 / 0.013%   vi 0.05 epochs
//   T = 5     53.6 / 37.2 / 9.2%     vi 33.9 epochs (el 0.03, ru 0.13: the large ones are never repeated)
//   Cooldown  T = 5 for steps 0-999, then T = 1: vi 17.0 epochs, all in the first half
const spec = pipeline("cooldown_overfit")
  .seed(1)
  .domain("el", dictionary("el"), split(0.05))
  .domain("ru", dictionary("ru"), split(0.05))
  .domain("vi", dictionary("vi"), take(4000), split(0.3))
  // 2 heads of 16 dims; MLP 32 x 4 = 128 wide; 29,920 parameters (8,192 in the byte embedding).
  .model(lm({ context: 16, dim: 32, depth: 1, heads: 2, mlpRatio: 4 }))
  .stage("t1", train({ ...common, mix: temperature(languages, 1) }))
  .stage("t5", train({ ...common, mix: temperature(languages, 5) }))
  .stage("cooldown", train({ ...common, mix: temperature(languages, cooldown(5, 1, 0.5)) }))
  // `deno task sweep pipelines/cooldown_overfit.ts --jobs 2`: runs/cooldown_overfit/sweep.json and sweep.html.
  .sweep({ seed: [1, 2, 3] });

export default spec;

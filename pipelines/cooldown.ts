/**
 * Cooldown: temperature schedules on four languages of very different sizes ("Upsample or Upweight?").
 *
 * Four byte-level LMs are trained from scratch with the same budget and compared on each language's
 * validation loss: proportional sampling (T = 1), T = 5, UniMax, and Cooldown (T = 5 then T = 1).
 * The YAML twin is cooldown.yaml.
 */

import {
  adamw,
  cooldown,
  dictionary,
  evaluate,
  lm,
  lmLoss,
  pipeline,
  split,
  temperature,
  train,
  unimax,
} from "../src/dsl/mod.ts";
import type { TrainOptions } from "../src/dsl/mod.ts";

const languages = ["el", "ru", "fr", "vi"] as const;

// Shared by every run. batch 32 x 64 bytes = 2,048 tokens a step; 3,000 steps x 32 = 96,000 examples.
const common: Omit<TrainOptions<never, string>, "mix"> = {
  loss: lmLoss(),
  optimizer: adamw({ lr: 1e-3, weightDecay: 0.1, warmup: 100, decay: "cosine", clip: 1 }),
  steps: 3000,
  batch: 32,
  evalEvery: 250,
};

// Training words after a 5% validation split: el 787,366, ru 138,956, fr 80,094, vi 6,299 (125 : 1).
// T = 1 draws vi 0.62% of the time (about 600 of 96,000 examples, a tenth of an epoch);
// T = 5 draws el 36.8%, ru 26.0%, fr 23.3%, vi 14.0% (about 13,400 examples, 2.1 epochs of vi).
const spec = pipeline("cooldown")
  .seed(1)
  .domain("el", dictionary("el"), split(0.05))
  .domain("ru", dictionary("ru"), split(0.05))
  .domain("fr", dictionary("fr"), split(0.05))
  .domain("vi", dictionary("vi"), split(0.05))
  // 4 heads of 128 / 4 = 32 dims; MLP 128 x 4 = 512 wide
  .model(lm({ context: 64, dim: 128, depth: 4, heads: 4, mlpRatio: 4 }))
  .stage("t1", train({ ...common, mix: temperature(languages, 1) }))
  .stage("t5", train({ ...common, mix: temperature(languages, 5) }))
  // UniMax: 96,000 / 4 = 24,000 each, vi capped at 2 epochs (12,598); the rest goes to el, ru and fr
  .stage("unimax", train({ ...common, mix: unimax(languages, { epochCap: 2 }) }))
  // T = 5 for steps 0-1,499, then T = 1 for steps 1,500-2,999
  .stage("cooldown", train({ ...common, mix: temperature(languages, cooldown(5, 1, 0.5)) }))
  .stage("eval_t1", evaluate({ from: "t1", tasks: ["validation_loss"] }))
  .stage("eval_t5", evaluate({ from: "t5", tasks: ["validation_loss"] }))
  .stage("eval_unimax", evaluate({ from: "unimax", tasks: ["validation_loss"] }))
  .stage("eval_cooldown", evaluate({ from: "cooldown", tasks: ["validation_loss"] }))
  .build();

export default spec;

/**
 * Quickstart: the PETALface recipe on MNIST, small enough for a laptop.
 *
 * A ViT is pretrained on sharp (HR) digits 0-4, then LoRA adapters learn blurry (LR) digits 5-9 while the
 * backbone stays frozen. The two evaluate stages show what the paper shows: the frozen backbone keeps its HR
 * accuracy while the adapters gain on LR. Run the YAML twin (quickstart.yaml) and get the same spec and hash.
 */

import {
  adamw,
  cosface,
  degrade,
  evaluate,
  lora,
  mnist,
  pipeline,
  split,
  temperature,
  train,
  vit,
} from "../src/dsl/mod.ts";

// MNIST ships 10,000 digits: 5,131 of 0-4 and 4,869 of 5-9; 10% of each domain is held out for validation,
// leaving about 4,618 HR and 4,382 LR training digits.
const spec = pipeline("quickstart")
  .seed(1)
  .domain("hr", mnist([0, 1, 2, 3, 4]), split(0.1))
  // LR: 28x28 area-downsampled by 4 to 7x7, then upsampled back to 28x28 (as LR faces are upscaled)
  .domain("lr", mnist([5, 6, 7, 8, 9]), degrade(4), split(0.1))
  // 28 / 7 = 4x4 = 16 patch tokens of 49 pixels; 4 heads of 64 / 4 = 16 dims; MLP 64 x 2 = 128 wide
  .model(vit({ image: 28, patch: 7, dim: 64, depth: 4, heads: 4, mlpRatio: 2, embedDim: 32, classes: 10 }))
  // batch 64 x 16 tokens = 1,024 tokens a step; 300 steps x 64 = 19,200 images, about 4 epochs of hr
  .stage(
    "pretrain",
    train({
      mix: temperature(["hr"]),
      trainable: ["*"],
      loss: cosface({ scale: 16, margin: 0.2 }),
      optimizer: adamw({ lr: 1e-3, weightDecay: 0.05, warmup: 30, decay: "cosine" }),
      steps: 300,
      batch: 64,
      evalEvery: 100,
    }),
  )
  .stage("before", evaluate({ from: "pretrain", tasks: ["recognition"], domains: ["hr", "lr"] }))
  // LoRA rank 8 on the 4 qkv layers (8 x (64 + 192) = 2,048 each) and on feature (8 x (64 + 32) = 768):
  // 8,960 adapter weights plus the 32 x 10 = 320 head weights are trained; the backbone is frozen.
  // 200 steps x 64 = 12,800 images, about 3 epochs of lr
  .stage(
    "finetune",
    train({
      from: "pretrain",
      mix: temperature(["lr"]),
      adapters: [lora(["blocks.*.attn.qkv", "feature"], { rank: 8, dropout: 0.1, init: "gaussian" })],
      trainable: ["head"],
      loss: cosface({ scale: 16, margin: 0.2 }),
      optimizer: adamw({ lr: 5e-4, weightDecay: 0.1, warmup: 20, decay: "linear", clip: 5 }),
      steps: 200,
      batch: 64,
      evalEvery: 50,
    }),
  )
  .stage("after", evaluate({ from: "finetune", tasks: ["recognition"], domains: ["hr", "lr"] }))
  .build();

export default spec;

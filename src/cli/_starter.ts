// The pipeline `init` writes: small enough to run in seconds on a CPU-only WebGPU adapter.

/** Source of `pipelines/quickstart.ts` in a new project. */
export const STARTER_PIPELINE: string = `/**
 * Starter: pretrain a small ViT on MNIST digits 0-4, then train LoRA adapters (backbone frozen) on digits
 * 5-9 seen only at low resolution, and compare recognition before and after.
 * Run: deno task pipeline (add --plan to see the plan without training).
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
  take,
  temperature,
  train,
  vit,
} from "@mixtune/mixtune";

const recognition = [
  { name: "old_hr", gallery: "hr_old", probes: ["hr_old"] },
  { name: "new_lr", gallery: "hr_new", probes: ["lr_new"] },
];

export default pipeline("starter")
  .seed(1)
  // 500 digits per domain, 20% held out: 400 training images and 100 probes each.
  .domain("hr_old", mnist([0, 1, 2, 3, 4]), take(500), split(0.2))
  .domain("hr_new", mnist([5, 6, 7, 8, 9]), take(500), split(0.2))
  // low resolution: downsampled by 4 (28 -> 7 pixels) and upsampled back to 28 x 28
  .domain("lr_new", mnist([5, 6, 7, 8, 9]), take(500), degrade(4), split(0.2))
  // 28 / 7 = 4 x 4 = 16 tokens; 2 heads of 16 dims
  .model(vit({ image: 28, patch: 7, dim: 32, depth: 1, heads: 2, mlpRatio: 2, embedDim: 16, classes: 10 }))
  // 60 steps x 32 = 1,920 images = about 5 epochs of hr_old
  .stage("pretrain", train({
    mix: temperature(["hr_old"]),
    trainable: ["*"],
    loss: cosface({ scale: 16, margin: 0.2 }),
    optimizer: adamw({ lr: 2e-3, weightDecay: 0.05 }),
    steps: 60,
    batch: 32,
  }))
  .stage("before", evaluate({ from: "pretrain", tasks: ["recognition"], recognition }))
  // LoRA rank 4 on qkv, plus the head; 40 steps x 32 low-resolution images
  .stage("finetune", train({
    from: "pretrain",
    mix: temperature(["lr_new"]),
    adapters: [lora(["blocks.*.attn.qkv"], { rank: 4, init: "gaussian" })],
    trainable: ["head"],
    loss: cosface({ scale: 16, margin: 0.2 }),
    optimizer: adamw({ lr: 2e-3 }),
    steps: 40,
    batch: 32,
  }))
  .stage("after", evaluate({ from: "finetune", tasks: ["recognition"], recognition }))
  .build();
`;

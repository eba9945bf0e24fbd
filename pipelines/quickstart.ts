/**
 * Quickstart: the PETALface recipe on MNIST digits, small enough for a CPU-only WebGPU adapter.
 *
 * Open-set, as in face recognition: a ViT is pretrained on sharp (HR) digits 0-4; LoRA adapters then learn
 * the new identities 5-9 from low-resolution (LR) images while the backbone stays frozen. Every model is
 * judged by its embeddings (class-mean gallery of HR images, held-out probes): old identities with HR probes
 * (forgetting), new identities with LR probes, and new identities with mixed HR/LR probes.
 * The YAML twin (quickstart.yaml) gives the same spec and hash.
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
} from "../mod.ts";

const recognition = [
  { name: "old_hr", gallery: "hr_old", probes: ["hr_old"] },
  { name: "new_lr", gallery: "hr_new", probes: ["lr_new"] },
  { name: "new_mixed", gallery: "hr_new", probes: ["hr_new", "lr_new"] },
];

const spec = pipeline("quickstart")
  .seed(1)
  // 2,000 digits per domain, 20% held out as probes: 1,600 training images (gallery) and 400 probes each.
  .domain("hr_old", mnist([0, 1, 2, 3, 4]), take(2000), split(0.2))
  .domain("hr_new", mnist([5, 6, 7, 8, 9]), take(2000), split(0.2))
  // LR: the same digits area-downsampled by 4 (28 -> 7 pixels) and upsampled back to 28x28.
  .domain("lr_new", mnist([5, 6, 7, 8, 9]), take(2000), degrade(4), split(0.2))
  // 28 / 7 = 4 x 4 = 16 tokens of 49 pixels; 2 heads of 32 / 2 = 16 dims; MLP 32 x 2 = 64 wide.
  .model(vit({ image: 28, patch: 7, dim: 32, depth: 2, heads: 2, mlpRatio: 2, embedDim: 32, classes: 10 }))
  // 150 steps x batch 32 = 4,800 images = 3 epochs of hr_old.
  .stage(
    "pretrain",
    train({
      mix: temperature(["hr_old"]),
      trainable: ["*"],
      loss: cosface({ scale: 16, margin: 0.2 }),
      optimizer: adamw({ lr: 2e-3, weightDecay: 0.05, warmup: 15, decay: "cosine" }),
      steps: 150,
      batch: 32,
      evalEvery: 50,
    }),
  )
  .stage("before", evaluate({ from: "pretrain", tasks: ["recognition"], recognition }))
  // LoRA rank 4 on both qkv layers (4 x (32 + 96) = 512 each) and on feature (4 x (32 + 32) = 256), plus
  // the 10 x 32 head: 1,600 trained weights; the backbone is frozen. 100 steps x 32 = 3,200 LR images.
  .stage(
    "finetune",
    train({
      from: "pretrain",
      mix: temperature(["lr_new"]),
      adapters: [lora(["blocks.*.attn.qkv", "feature"], { rank: 4, init: "gaussian" })],
      trainable: ["head"],
      loss: cosface({ scale: 16, margin: 0.2 }),
      optimizer: adamw({ lr: 2e-3, weightDecay: 0.1, warmup: 10, decay: "linear", clip: 5 }),
      steps: 100,
      batch: 32,
      evalEvery: 50,
    }),
  )
  .stage("after", evaluate({ from: "finetune", tasks: ["recognition"], recognition }))
  .build();

export default spec;

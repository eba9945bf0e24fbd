/**
 * PETALface at small scale on MNIST digits, open-set: a ViT pretrained with CosFace on sharp (HR) digits 0-4
 * learns the new identities 5-9 from mostly low-resolution (LR) images, as (a) full fine-tuning, (b) one
 * LoRA, (c) two quality-gated LoRAs (PETALface). Every model, the pretrained one too, is judged by its
 * embeddings: old identities with HR probes (forgetting), new identities with LR probes (the TinyFace
 * column), and new identities with mixed HR/LR probes. The YAML twin (petalface.yaml) gives the same spec.
 *
 * Sized for a shared 2-core CPU with a software WebGPU adapter: the ViT (d = 64, 4 blocks, 16 patches) at
 * batch 64, with 600 pretraining and 500 fine-tuning steps instead of the 1,200 and 1,000 (the paper
 * fine-tunes a Swin-B). Measured about 15 minutes a seed on this CPU, shared.
 */
import {
  adamw,
  cosface,
  degrade,
  evaluate,
  exportOnnx,
  lora,
  mnist,
  petalfaceGate,
  pipeline,
  split,
  take,
  temperature,
  train,
  vit,
  weights,
} from "../mod.ts";

const recognition = [
  { name: "old_hr", gallery: "hr_old", probes: ["hr_old"] },
  { name: "new_lr", gallery: "hr_new", probes: ["lr_new"] },
  { name: "new_mixed", gallery: "hr_new", probes: ["hr_new", "lr_new"] },
];

// The same fine-tuning data for (a), (b) and (c): 80% LR and 20% HR images of the new identities, so the
// gate sees both qualities. hr_new and lr_new hold the same digits, and their splits hold out the same 20%.
const finetuneMix = weights({ lr_new: 0.8, hr_new: 0.2 });
const loss = cosface({ scale: 32, margin: 0.3 });
const optimizer = adamw({ lr: 1e-3, weightDecay: 0.1, warmup: 50, decay: "linear", clip: 5 });
const steps = 500;
const batch = 64;
// PETALface's placement: rank 8 on every attention qkv and on the feature projection, multiplier 1,
// A ~ N(0, 1/r), dropout 0.1; the cosine head is trained too.
const targets = ["blocks.*.attn.qkv", "feature"];
const adapter = { rank: 8, scale: { kind: "multiplier", value: 1 }, init: "gaussian", dropout: 0.1 } as const;

const spec = pipeline("petalface")
  .seed(1)
  // 20% of each domain is held out as probes; the rest of hr_old and hr_new makes the galleries.
  .domain("hr_old", mnist([0, 1, 2, 3, 4]), take(5000), split(0.2))
  .domain("hr_new", mnist([5, 6, 7, 8, 9]), take(4000), split(0.2))
  // LR: area-downsampled by 4 (28 -> 7 pixels) and upsampled back to 28x28.
  .domain("lr_new", mnist([5, 6, 7, 8, 9]), take(4000), degrade(4), split(0.2))
  // 28 / 7 = 4 x 4 = 16 tokens; 4 heads of 16 dims; MLP 64 x 2 = 128 wide.
  .model(vit({ image: 28, patch: 7, dim: 64, depth: 4, heads: 4, mlpRatio: 2, embedDim: 32, classes: 10 }))
  // 600 x 64 = 38,400 images, 9.6 epochs of the 4,000 training images of digits 0-4.
  .stage(
    "pretrain",
    train({
      mix: temperature(["hr_old"]),
      trainable: ["*"],
      loss,
      optimizer: adamw({ lr: 2e-3, weightDecay: 0.05, warmup: 60, decay: "cosine", clip: 5 }),
      steps: 600,
      batch,
      evalEvery: 300,
    }),
  )
  // (a) full fine-tuning: every weight, from the pretrained ones.
  .stage(
    "full",
    train({ from: "pretrain", mix: finetuneMix, trainable: ["*"], loss, optimizer, steps, batch }),
  )
  // (b) one LoRA, backbone frozen.
  .stage(
    "lora",
    train({
      from: "pretrain",
      mix: finetuneMix,
      adapters: [lora(targets, adapter)],
      trainable: ["head"],
      loss,
      optimizer,
      steps,
      batch,
    }),
  )
  // (c) two LoRAs weighted by g = 0.5 + (q - 0.15): q is Laplacian sharpness normalised over the HR and LR
  // training images (a scale fixed once), LR images score q <= 0.03 (g ~ 0.35), HR ones q >= 0.28 (g >= 0.63).
  .stage(
    "petalface",
    train({
      from: "pretrain",
      mix: finetuneMix,
      adapters: [lora(targets, { ...adapter, gated: true })],
      gate: petalfaceGate({ threshold: 0.15, reference: ["hr_new", "lr_new"] }),
      trainable: ["head"],
      loss,
      optimizer,
      steps,
      batch,
    }),
  )
  .stage("eval_pretrain", evaluate({ from: "pretrain", tasks: ["recognition"], recognition }))
  .stage("eval_full", evaluate({ from: "full", tasks: ["recognition"], recognition }))
  .stage("eval_lora", evaluate({ from: "lora", tasks: ["recognition"], recognition }))
  .stage("eval_petalface", evaluate({ from: "petalface", tasks: ["recognition"], recognition }))
  // The gated model as ONNX (branches kept, g an input), checked against WebGPU in onnxruntime.
  .stage("export_petalface", exportOnnx({ from: "petalface" }))
  // Three seeds (`--seed` also reshuffles the data, so each seed has its own validation slice):
  // `deno task sweep pipelines/petalface.ts` runs them and writes runs/petalface/sweep.json and sweep.html.
  .sweep({ seed: [1, 2, 3] });

export default spec;

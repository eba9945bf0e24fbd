import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { runEager } from "../src/compile/eager.ts";
import { adamwReference } from "../src/compile/optimizer.ts";
import { stepGraph, type StepOptions, TrainStep } from "../src/compile/train_step.ts";
import type { ModelConfig } from "../src/models/config.ts";
import { buildModel, type BuildOptions } from "../src/models/graph.ts";
import { relError, testDevice } from "./_harness.ts";
import { randomBatch, startWeights, tinyLm, tinyVit } from "./step_fixture.ts";

const STEPS = 5;
const LR = 0.01;
const DOMAINS = 2;
const options: StepOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, clip: 1, seed: 4 };
// TrainStep's default decay mask, restated: weight decay on matrices only.
const decays = (shape: readonly number[]) => shape.length >= 2;

/**
 * Trains `STEPS` steps twice from the same weights and batches: once with the compiled TrainStep, once
 * op by op (`runEager` for loss and gradients) with float64 AdamW on the host. Returns the largest
 * error over the trainable parameters, and the loss and per-domain loss sums of both.
 */
async function compare(
  device: GPUDevice,
  config: ModelConfig,
  build: BuildOptions,
): Promise<
  { worst: number; name: string; frozenSame: boolean; losses: number[]; domainLosses: Float32Array[] }
> {
  const model = buildModel(config, build);
  const start = startWeights(model, 3);
  const batches = Array.from({ length: STEPS }, (_, i) => randomBatch(config, build.batch, DOMAINS, 100 + i));

  const step = await TrainStep.compile(device, model, options);
  step.store.upload(start);
  // The dropout seed the step wrote for each step, so the op-by-op run draws the same masks.
  const seeds: Float32Array[] = [];
  const dropoutSeed = model.inputs.dropoutSeed;
  for (const b of batches) {
    step.feed(b);
    step.run(LR);
    if (dropoutSeed) seeds.push(await step.program.read(dropoutSeed));
  }
  const compiled = await step.store.download();
  const metrics = await step.drainMetrics();
  step.destroy();
  if (dropoutSeed) assert.equal(new Set(seeds.map((s) => s[0])).size, STEPS, `dropout seeds ${seeds}`);

  const { gradNodes } = stepGraph(model);
  const trainable = [...gradNodes.keys()];
  const flat = (get: (name: string) => ArrayLike<number>) => {
    const out = new Float64Array(trainable.reduce((a, p) => a + p.size, 0));
    let at = 0;
    for (const p of trainable) {
      out.set(get(p.name), at);
      at += p.size;
    }
    return out;
  };
  const theta = flat((n) => start.get(n)!);
  const mask = flat((n) =>
    new Float64Array(model.params.get(n)!.size).fill(decays(model.params.get(n)!.shape) ? 1 : 0)
  );
  const m = new Float64Array(theta.length);
  const v = new Float64Array(theta.length);
  const weights = new Map(start);
  let eagerLoss = 0;
  const eagerDomainLoss = new Float32Array(DOMAINS);
  for (let s = 0; s < STEPS; s++) {
    const b = batches[s];
    const feeds = new Map<string, Float32Array>(weights);
    for (
      const [k, x] of Object.entries({ x: b.x, labels: b.labels, weights: b.weights, domains: b.domains })
    ) {
      feeds.set(k, x);
    }
    if (model.inputs.gate) feeds.set("gate", b.gate!);
    if (dropoutSeed) feeds.set(dropoutSeed.name, seeds[s]);
    const values = await runEager(device, [model.loss, model.domainLoss, ...gradNodes.values()], feeds);
    eagerLoss += values.get(model.loss)![0];
    values.get(model.domainLoss)!.forEach((x, d) => eagerDomainLoss[d] += x);
    const grad = flat((n) => values.get(gradNodes.get(model.params.get(n)!)!)!);
    adamwReference(theta, grad, m, v, mask, { ...options, lr: LR, step: s + 1 });
    let at = 0;
    for (const p of trainable) {
      weights.set(p.name, Float32Array.from(theta.subarray(at, at + p.size)));
      at += p.size;
    }
  }

  let worst = 0;
  let name = "";
  for (const p of trainable) {
    // Parameters start O(0.1-1) and move by about lr per step, so some cross zero: relative error there is
    // meaningless. floor 1 measures each element against the tensor's largest value instead.
    const e = relError(compiled.get(p.name)!, weights.get(p.name)!, 1);
    if (!(e <= worst)) [worst, name] = [e, p.name];
  }
  const frozenSame = [...model.params.values()].filter((p) => !p.trainable)
    .every((p) => compiled.get(p.name)!.every((x, i) => x === start.get(p.name)![i]));
  return {
    worst,
    name,
    frozenSame,
    losses: [metrics.loss, eagerLoss],
    domainLosses: [metrics.domainLoss, eagerDomainLoss],
  };
}

Deno.test("a compiled step and an uncompiled (op-by-op) run give the same parameters after 5 steps: ViT with gated LoRA", async () => {
  const device = await testDevice();
  if (!device) return;
  const r = await compare(device, tinyVit, {
    batch: 6,
    domains: DOMAINS,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: ["blocks.0.attn.qkv", "feature"].map((path) => ({ path, rank: 2, scale: 0.5, gated: true })),
    // The head (a matrix, decayed) and the final norm (vectors, not decayed) train besides the adapters.
    trainable: (n) => n === "head.weight" || n.startsWith("norm."),
  });
  // Same kernels on both sides; what differs is f32 AdamW on the GPU vs float64 on the host: measured 3e-7
  // (1 - beta and the bias corrections come from the host in float64; computing 1 - beta2 in f32 gave 6e-6).
  assert.ok(r.worst <= 2e-6, `${r.name}: relative error ${r.worst}`);
  assert.ok(r.frozenSame, "a frozen parameter changed");
  assert.ok(Math.abs(r.losses[0] - r.losses[1]) <= 2e-6 * Math.abs(r.losses[1]), `summed losses ${r.losses}`);
  assert.ok(relError(r.domainLosses[0], r.domainLosses[1]) <= 2e-6, `per-domain loss sums ${r.domainLosses}`);
});

Deno.test("a compiled step and an uncompiled (op-by-op) run give the same parameters after 5 steps: byte LM with LoRA and dropout", async () => {
  const device = await testDevice();
  if (!device) return;
  const r = await compare(device, tinyLm, {
    batch: 3,
    domains: DOMAINS,
    loss: { kind: "lm" },
    // With LoRA dropout in the training graph: a new mask each step, drawn from the step's seed.
    lora: ["blocks.0.attn.qkv", "blocks.0.mlp.fc2"].map((path) => ({
      path,
      rank: 2,
      scale: 0.5,
      gated: false,
      dropout: 0.25,
    })),
    trainable: (n) => n === "lm_head.bias",
    training: true,
  });
  assert.ok(r.worst <= 2e-6, `${r.name}: relative error ${r.worst}`);
  assert.ok(r.frozenSame, "a frozen parameter changed");
  assert.ok(Math.abs(r.losses[0] - r.losses[1]) <= 2e-6 * Math.abs(r.losses[1]), `summed losses ${r.losses}`);
  assert.ok(relError(r.domainLosses[0], r.domainLosses[1]) <= 2e-6, `per-domain loss sums ${r.domainLosses}`);
});

import { textureReads } from "../src/gpu/operand_textures.ts";
import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { type Batch, planStep, stepGraph, TrainStep } from "../src/compile/train_step.ts";
import { microBatch } from "../src/compile/micro_batches.ts";
import { evaluate } from "../src/graph/cpu.ts";
import type { Node } from "../src/graph/node.ts";
import { IGNORE_LABEL } from "../src/graph/ops/linear_cross_entropy.ts";
import type { LmConfig, ModelConfig } from "../src/models/config.ts";
import { buildModel, type BuildOptions, type ModelGraph } from "../src/models/graph.ts";
import { randomBatch, startWeights, tinyVit } from "./step_fixture.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

/** A byte LM with a vocabulary that is no multiple of the fused loss's 256-row chunks. */
const lm: LmConfig = { backbone: "lm", context: 8, dim: 16, depth: 1, heads: 2, mlpRatio: 2, vocab: 1000 };
const DOMAINS = 2;
const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

/** LoRA on qkv, a gated pair on lm_head, lm_head's weight and bias trained: every gradient path of the LM. */
function lmOptions(batch: number): BuildOptions {
  return {
    batch,
    domains: DOMAINS,
    loss: { kind: "lm" },
    lora: [
      { path: "blocks.0.attn.qkv", rank: 2, scale: 0.5, gated: false },
      { path: "lm_head", rank: 3, scale: 2, gated: true },
    ],
    trainable: (n) => n === "lm_head.weight" || n === "lm_head.bias",
    training: true,
  };
}

/**
 * Four examples whose counted tokens differ: all 8, 2, none (label -1 throughout) and 1. A loss that divided
 * by a micro-batch's tokens (10 and 1 at two micro-batches) instead of each example's would differ here.
 */
function lmBatch(seed: number): Batch {
  const b = randomBatch(lm, 4, DOMAINS, seed);
  const labels = Float32Array.from(randoms(4 * lm.context, seed + 1, 0, 1000), Math.floor);
  labels.fill(IGNORE_LABEL, lm.context, lm.context + 6);
  labels.fill(IGNORE_LABEL, 2 * lm.context, 3 * lm.context);
  labels.fill(IGNORE_LABEL, 3 * lm.context, 4 * lm.context - 1);
  return { ...b, x: Float32Array.from(b.x, (v) => v * 3), labels };
}

/** One step's results: the loss and per-domain loss sums as logged, the gradients, the weights after it. */
interface StepResult {
  loss: number;
  domainLoss: Float32Array;
  grads: Map<string, Float32Array>;
  weights: Map<string, Float32Array>;
}

/** Runs `batches` through a step compiled for `config` at `batch / accumulate` examples a micro-batch. */
async function train(
  device: GPUDevice,
  config: ModelConfig,
  options: (batch: number) => BuildOptions,
  batches: Batch[],
  accumulate: number,
  start: Map<string, Float32Array>,
): Promise<{ kernels: string[]; steps: StepResult[] }> {
  const B = batches[0].weights.length;
  const model = buildModel(config, options(B / accumulate));
  const step = await TrainStep.compile(device, model, { ...ADAM, clip: 0.05, accumulate });
  step.store.upload(start);
  const steps: StepResult[] = [];
  for (const [s, batch] of batches.entries()) {
    step.feed(batch);
    step.run(1e-2 * (s + 1));
    const m = await step.drainMetrics();
    assert.equal(m.nanStep, 0);
    assert.equal(m.weightStep, 0);
    steps.push({
      loss: m.loss,
      domainLoss: m.domainLoss,
      grads: await step.gradients(),
      weights: await step.store.download(),
    });
  }
  const kernels = step.kernels();
  // what the plan says without a device is what was compiled
  const planned = planStep(model, 0.05, "f32", { accumulate }, undefined, textureReads(device));
  assert.deepEqual(step.memory(), planned.memory);
  assert.deepEqual(kernels, planned.kernels);
  step.destroy();
  return { kernels, steps };
}

/** The float64 loss and gradients of the whole batch on the un-accumulated graph. */
function reference(
  model: ModelGraph,
  weights: Map<string, Float32Array>,
  batch: Batch,
): { loss: number; grads: Map<string, Float64Array> } {
  const { loss, gradNodes } = stepGraph(model);
  const i = model.inputs;
  const feeds = new Map<Node | string, Float32Array>(weights).set(i.x, batch.x).set(i.labels, batch.labels)
    .set(i.weights, batch.weights).set(i.domains, batch.domains);
  if (i.gate) feeds.set(i.gate, batch.gate!);
  const ref = evaluate([loss, ...gradNodes.values()], feeds);
  return {
    loss: ref.get(loss)![0],
    grads: new Map([...gradNodes].map(([p, g]) => [p.name, ref.get(g)!])),
  };
}

/**
 * Compares an accumulated run with the plain one, step by step. Both are f32 on the GPU; the accumulated sums
 * its micro-batches in another order, so losses agree to 2e-6, and gradients and weights (after clipping and
 * AdamW) to 2e-5 relative at the first step (largest seen: 2.7e-6). The second step starts from weights
 * that already differ at float32 rounding: 2e-4 (largest seen: 7.8e-5, a gated LoRA's A).
 */
function assertSame(got: StepResult[], want: StepResult[], what: string): void {
  got.forEach((g, s) => {
    const w = want[s];
    const tol = s === 0 ? 2e-5 : 2e-4;
    const at = `${what}, step ${s + 1}`;
    assert.ok(relError([g.loss], [w.loss]) <= 2e-6, `${at}: loss ${g.loss} vs ${w.loss}`);
    assert.ok(
      relError(g.domainLoss, w.domainLoss) <= 2e-6,
      `${at}: domain losses ${g.domainLoss} vs ${w.domainLoss}`,
    );
    assert.deepEqual([...g.grads.keys()], [...w.grads.keys()]);
    for (const [name, v] of g.grads) {
      const err = relError(v, w.grads.get(name)!);
      assert.ok(err <= tol, `${at}: gradient of ${name}, relative error ${err}`);
    }
    for (const [name, v] of g.weights) {
      const err = relError(v, w.weights.get(name)!);
      assert.ok(err <= tol, `${at}: ${name} after the update, relative error ${err}`);
    }
  });
}

Deno.test("an LM step accumulated over 2 and 4 micro-batches equals the plain step: loss, domain losses, gradients, weights after clipping and AdamW, with labels of -1", async () => {
  const device = await testDevice();
  if (!device) return;
  const batches = [lmBatch(11), lmBatch(21)];
  const plainModel = buildModel(lm, lmOptions(4));
  const start = startWeights(plainModel, 3);
  const plain = await train(device, lm, lmOptions, batches, 1, start);
  // the plain step is right: its first loss and gradients against float64
  const ref = reference(plainModel, start, batches[0]);
  assert.ok(
    relError([plain.steps[0].loss], [ref.loss]) <= 1e-6,
    `loss ${plain.steps[0].loss} vs ${ref.loss}`,
  );
  for (const [name, g] of ref.grads) {
    const err = relError(plain.steps[0].grads.get(name)!, g);
    assert.ok(err <= 5e-4, `plain gradient of ${name} against float64: ${err}`);
  }
  for (const n of [2, 4]) {
    const acc = await train(device, lm, lmOptions, batches, n, start);
    assert.deepEqual(acc.kernels.filter((k) => k === "grad_accumulate" || k === "adamw"), [
      "grad_accumulate",
      "adamw",
    ]);
    assertSame(acc.steps, plain.steps, `${n} micro-batches`);
  }
});

Deno.test("a ViT step with a gated adapter accumulated over 3 micro-batches of 2 equals the plain step of 6", async () => {
  const device = await testDevice();
  if (!device) return;
  const options = (batch: number): BuildOptions => ({
    batch,
    domains: DOMAINS,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: [{ path: "blocks.0.attn.qkv", rank: 2, scale: 1, gated: true }],
    trainable: (n) => n === "head.weight",
    training: true,
  });
  const batches = [randomBatch(tinyVit, 6, DOMAINS, 31), randomBatch(tinyVit, 6, DOMAINS, 41)];
  const start = startWeights(buildModel(tinyVit, options(6)), 5);
  const plain = await train(device, tinyVit, options, batches, 1, start);
  const acc = await train(device, tinyVit, options, batches, 3, start);
  assertSame(acc.steps, plain.steps, "3 micro-batches");
});

Deno.test("microBatch() takes rows k B/n up to (k + 1) B/n of every input, and refuses a count that does not divide the batch", () => {
  const batch = randomBatch(tinyVit, 6, DOMAINS, 1);
  const second = microBatch(batch, 1, 3);
  assert.deepEqual(second.x, batch.x.slice(2 * 64, 4 * 64));
  assert.deepEqual(second.labels, batch.labels.slice(2, 4));
  assert.deepEqual(second.weights, batch.weights.slice(2, 4));
  assert.deepEqual(second.domains, batch.domains.slice(2 * DOMAINS, 4 * DOMAINS));
  assert.deepEqual(second.gate, batch.gate!.slice(2, 4));
  assert.throws(
    () => microBatch(batch, 0, 4),
    /accumulate: expected a factor that divides the batch \(6\), found 4/,
  );
  assert.throws(() => microBatch(batch, 0, 0), /accumulate: expected an integer >= 1, found 0/);
  assert.throws(() => microBatch(batch, 0, 1.5), /accumulate: expected an integer >= 1, found 1.5/);
  assert.throws(() => microBatch(batch, 3, 3), /micro-batch 3 of 3 does not exist/);
});

Deno.test("an accumulating step refuses a batch its micro-batches do not split, and a run before any feed", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(lm, lmOptions(2));
  await assert.rejects(
    () => TrainStep.compile(device, model, { ...ADAM, accumulate: 0 }),
    /accumulate: expected an integer >= 1, found 0/,
  );
  const step = await TrainStep.compile(device, model, { ...ADAM, accumulate: 2 });
  assert.throws(() => step.run(1e-3), /feed one first/);
  assert.throws(() => step.feed(randomBatch(lm, 3, DOMAINS, 1)), /divides the batch \(3\), found 2/);
  // 6 examples split in 2 are micro-batches of 3, not the 2 this step was compiled for
  step.feed(randomBatch(lm, 6, DOMAINS, 1));
  assert.throws(() => step.run(1e-3), /x: got 24 values for shape \[2,8\]/);
  step.destroy();
});

Deno.test("an accumulating step reports the exact step whose loss (in its last micro-batch) or whose weights were not finite", async () => {
  const device = await testDevice();
  if (!device) return;
  const options = (batch: number): BuildOptions => ({
    batch,
    domains: 1,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: [{ path: "blocks.0.attn.qkv", rank: 2, scale: 0.5, gated: false }],
  });
  const model = buildModel(tinyVit, options(2));
  const step = await TrainStep.compile(device, model, { ...ADAM, clip: 1, accumulate: 3 });
  step.store.upload(startWeights(model, 1));
  const batch = (s: number) => {
    const b = randomBatch(tinyVit, 6, 1, 10 + s);
    if (s === 3) b.x[5 * 64 + 17] = NaN; // one pixel of the last image: the third micro-batch
    return b;
  };
  for (let s = 1; s <= 2; s++) {
    step.feed(batch(s));
    step.run(0.01);
  }
  const clean = await step.drainMetrics();
  assert.deepEqual([clean.nanStep, clean.weightStep], [0, 0]);
  assert.ok(Number.isFinite(clean.loss) && clean.loss > 0, `loss sum ${clean.loss}`);
  for (let s = 3; s <= 4; s++) {
    step.feed(batch(s));
    step.run(0.01);
  }
  const bad = await step.drainMetrics();
  assert.equal(bad.nanStep, 3);
  assert.equal(bad.weightStep, 3);
  assert.ok(Number.isNaN(bad.loss), `loss sum ${bad.loss}`);
  step.destroy();

  // an infinite learning rate at step 2: its loss was finite, the weights after it are not
  const fresh = await TrainStep.compile(device, model, { ...ADAM, accumulate: 3 });
  fresh.store.upload(startWeights(model, 2));
  fresh.feed(batch(1));
  fresh.run(0.01);
  fresh.feed(batch(2));
  fresh.run(Infinity);
  const m = await fresh.drainMetrics();
  assert.deepEqual([m.nanStep, m.weightStep], [0, 2]);
  assert.ok(Number.isFinite(m.loss), `loss sum ${m.loss}`);
  fresh.destroy();
});

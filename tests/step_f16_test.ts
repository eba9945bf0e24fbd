import { textureReads } from "../src/gpu/operand_textures.ts";
import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { halfWeights } from "../src/compile/half_weights.ts";
import { planStep, stepGraph, type StepOptions, TrainStep } from "../src/compile/train_step.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { gradients } from "../src/graph/grad.ts";
import { linearModules } from "../src/models/config.ts";
import { buildModel, type BuildOptions, type ModelGraph } from "../src/models/graph.ts";
import { relError, testDevice } from "./_harness.ts";
import { randomBatch, startWeights, tinyVit } from "./step_fixture.ts";

const options: StepOptions = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clip: 1 };
// tinyVit's linear weights all hold a multiple of 128 elements, so f16 padding to 256 bytes adds nothing
const lora: BuildOptions = {
  batch: 4,
  domains: 2,
  loss: { kind: "cosface", scale: 8, margin: 0.2 },
  lora: ["blocks.0.attn.qkv", "feature"].map((path) => ({ path, rank: 2, scale: 0.5, gated: false })),
  trainable: (n) => n === "head.weight",
};

/** The frozen weights of the linear modules: what frozenDtype "f16" should store as f16. */
function frozenLinears(model: ModelGraph): string[] {
  return linearModules(model.config).map((m) => `${m.path}.weight`)
    .filter((n) => !model.params.get(n)!.trainable).sort();
}

Deno.test("planStep() with frozenDtype f16 halves exactly the frozen linear weights' bytes", () => {
  const model = buildModel(tinyVit, lora);
  const half = [...halfWeights(stepGraph(model).outputs).keys()].map((p) => p.name).sort();
  assert.deepEqual(half, frozenLinears(model));
  const f32Bytes = half.reduce((a, n) => a + 4 * model.params.get(n)!.size, 0);
  const a = planStep(model, 1).memory;
  const b = planStep(model, 1, "f16").memory;
  assert.equal(a.frozen - b.frozen, f32Bytes / 2);
  assert.equal(a.total - b.total, f32Bytes / 2);
  assert.equal(b.frozenF16, f32Bytes / 2);
  assert.deepEqual([b.trainableState, b.activations], [a.trainableState, a.activations]);
  assert.equal(a.frozenF16, undefined);
  assert.deepEqual(planStep(model, 1, "f16").kernels, planStep(model, 1).kernels);
  // full fine-tuning: nothing is frozen, so nothing is f16
  const full = buildModel(tinyVit, { ...lora, lora: undefined, trainable: () => true });
  assert.deepEqual(planStep(full, 1, "f16").memory, planStep(full, 1).memory);
});

/** Losses of `steps` steps from `weights`, and the step (for its memory and weights); caller destroys it. */
async function train(
  device: GPUDevice,
  model: ModelGraph,
  weights: Map<string, Float32Array>,
  frozenDtype: "f32" | "f16",
  steps: number,
): Promise<{ losses: number[]; step: TrainStep }> {
  const step = await TrainStep.compile(device, model, { ...options, frozenDtype });
  step.store.upload(weights);
  step.feed(randomBatch(tinyVit, 4, 2, 5));
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    step.run(1e-2);
    losses.push((await step.drainMetrics()).loss);
  }
  return { losses, step };
}

Deno.test("TrainStep with frozenDtype f16 is the f32 step on f16-rounded weights; its first loss moves by the rounding's first-order effect", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(tinyVit, lora);
  const weights = startWeights(model, 3);
  const names = frozenLinears(model);
  const rounded = new Map(weights);
  for (const n of names) rounded.set(n, Float32Array.from(new Float16Array(weights.get(n)!)));

  const half = await train(device, model, weights, "f16", 5);
  const twin = await train(device, model, rounded, "f32", 5);
  const plain = await train(device, model, weights, "f32", 5);
  try {
    assert.deepEqual(
      half.step.memory(),
      planStep(model, 1, "f16", {}, undefined, textureReads(device)).memory,
    );
    assert.equal(plain.step.memory().frozen - half.step.memory().frozen, half.step.memory().frozenF16);
    // Same kernels, and unpack2x16float yields the rounded weight exactly: only f32 reordering may differ.
    half.losses.forEach((l, i) => assert.ok(relError([l], [twin.losses[i]]) <= 1e-6, `step ${i + 1}: ${l}`));
    const layout = (s: TrainStep) => s.store.trainable().map((e) => [e.name, e.shape, e.offset]);
    assert.deepEqual(layout(half.step), layout(plain.step));
    const [got, want] = await Promise.all([half.step.store.download(), twin.step.store.download()]);
    for (const e of half.step.store.trainable()) {
      assert.ok(got.get(e.name)!.every(Number.isFinite), `${e.name} is not finite`);
      assert.ok(relError(got.get(e.name)!, want.get(e.name)!) <= 1e-5, e.name);
    }
    // f16 weights read back as uploaded: files written from the store keep the base as read
    for (const n of names) assert.deepEqual(got.get(n), weights.get(n));

    // The first loss moves by the rounding d of the weights (|d| <= 2^-11 |W|): L(W + d) - L(W) = sum g d
    // + O(d^2), g the float64 gradient on the CPU. The O(d^2) part is ~(sum g d)^2 / L, below 1e-7 here, so
    // what the test allows is the f32 noise of the two losses, 1e-6 of the loss each.
    const frozen = names.map((n) => model.params.get(n)!);
    const g = gradients(model.loss, frozen);
    const batch = randomBatch(tinyVit, 4, 2, 5);
    const i = model.inputs;
    const feeds = new Map<unknown, Float32Array>([...model.params].map(([n, p]) => [p, weights.get(n)!]));
    feeds.set(i.x, batch.x).set(i.labels, batch.labels).set(i.weights, batch.weights).set(
      i.domains,
      batch.domains,
    );
    const values = evaluate([...g.values()], feeds as Map<never, Float32Array>);
    let predicted = 0;
    for (const p of frozen) {
      const gp = values.get(g.get(p)!)!;
      const w = weights.get(p.name)!;
      const r = rounded.get(p.name)!;
      for (let k = 0; k < w.length; k++) predicted += gp[k] * (r[k] - w[k]);
    }
    const change = half.losses[0] - plain.losses[0];
    assert.ok(Math.abs(predicted) > 1e-5, `the rounding should move the loss measurably: ${predicted}`);
    assert.ok(
      Math.abs(change - predicted) <= 2e-6 * Math.abs(plain.losses[0]),
      `loss change ${change}, first-order prediction ${predicted}`,
    );
  } finally {
    for (const s of [half, twin, plain]) s.step.destroy();
  }
});

import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { TrainStep } from "../src/compile/train_step.ts";
import { buildModel } from "../src/models/graph.ts";
import { testDevice } from "./_harness.ts";
import { randomBatch, startWeights, tinyVit } from "./step_fixture.ts";

Deno.test("TrainStep.drainMetrics() reports the exact first step whose loss was not finite", async () => {
  const device = await testDevice();
  if (!device) return;
  const B = 5;
  const model = buildModel(tinyVit, {
    batch: B,
    domains: 1,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: [{ path: "blocks.0.attn.qkv", rank: 2, scale: 0.5, gated: false }],
  });
  const step = await TrainStep.compile(device, model, {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    clip: 1,
  });
  step.store.upload(startWeights(model, 1));
  const batch = (s: number) => {
    const b = randomBatch(tinyVit, B, 1, 10 + s);
    if (s === 3) b.x[2 * 64 + 17] = NaN; // one pixel of the third image
    return b;
  };
  for (let s = 1; s <= 2; s++) {
    step.feed(batch(s));
    step.run(0.01);
  }
  const clean = await step.drainMetrics();
  assert.equal(clean.nanStep, 0);
  assert.ok(Number.isFinite(clean.loss) && clean.loss > 0, `loss sum ${clean.loss}`);

  for (let s = 3; s <= 5; s++) {
    step.feed(batch(s));
    step.run(0.01);
  }
  // The NaN reached the weights at step 3, so steps 4 and 5 are not finite either; the first one counts.
  const bad = await step.drainMetrics();
  assert.equal(bad.nanStep, 3);
  assert.ok(Number.isNaN(bad.loss), `loss sum ${bad.loss}`);

  // Draining resets the watch: the next non-finite step is reported again, at its own number.
  step.feed(batch(6));
  step.run(0.01);
  assert.equal((await step.drainMetrics()).nanStep, 6);
  step.destroy();
});

Deno.test("TrainStep.drainMetrics() reports the first step after which the weights were not finite", async () => {
  const device = await testDevice();
  if (!device) return;
  const B = 3;
  const model = buildModel(tinyVit, {
    batch: B,
    domains: 1,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: [{ path: "blocks.0.attn.qkv", rank: 2, scale: 0.5, gated: false }],
  });
  const step = await TrainStep.compile(device, model, {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
  });
  step.store.upload(startWeights(model, 2));
  step.feed(randomBatch(tinyVit, B, 1, 20));
  step.run(0.01);
  // an infinite learning rate: the loss of step 2 is computed before the update and stays finite
  step.feed(randomBatch(tinyVit, B, 1, 21));
  step.run(Infinity);
  const m = await step.drainMetrics();
  assert.deepEqual({ nanStep: m.nanStep, weightStep: m.weightStep }, { nanStep: 0, weightStep: 2 });
  assert.ok(Number.isFinite(m.loss), `loss sum ${m.loss}`);
  const clean = await step.drainMetrics();
  assert.equal(clean.weightStep, 0, "draining resets the watch");
  step.destroy();
});

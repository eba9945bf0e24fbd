import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { Forward } from "../src/compile/forward.ts";
import { TrainStep } from "../src/compile/train_step.ts";
import { loadMnist } from "../src/data/mod.ts";
import { matmul } from "../src/graph/ops/matmul.ts";
import { l2Normalize } from "../src/graph/ops/normalize.ts";
import type { VitConfig } from "../src/models/config.ts";
import { buildModel, type BuildOptions } from "../src/models/graph.ts";
import { initParams } from "../src/models/params.ts";
import { rng, testDevice } from "./_harness.ts";

const config: VitConfig = {
  backbone: "vit",
  image: 28,
  // 2 x 2 patches of 14 x 14 pixels: 4 tokens keep a step cheap on a software adapter.
  patch: 14,
  dim: 32,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  embedDim: 16,
  classes: 4,
};
const DIGITS = [0, 1, 2, 3];
const TRAIN = 100; // per digit
const TEST = 50; // per digit, never trained on
const BATCH = 32;
const STEPS = 60;
const LR = 6e-3;
const PIXELS = 28 * 28;

Deno.test("a small ViT learns mnist digits from scratch to well above chance within a test-sized budget", async () => {
  const device = await testDevice();
  if (!device) return;
  // Images come interleaved over the digits, so the first 400 hold 100 of each and the last 200 50 of each.
  const data = await loadMnist({ digits: DIGITS, perDigit: TRAIN + TEST, relabel: true });
  const nTrain = TRAIN * DIGITS.length;
  const nTest = TEST * DIGITS.length;

  const loss = { kind: "cosface", scale: 16, margin: 0.1 } as const;
  const build: BuildOptions = { batch: BATCH, domains: 1, loss, trainable: () => true };
  const model = buildModel(config, build);
  const step = await TrainStep.compile(device, model, {
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0.01,
    clip: 1,
  });
  step.store.upload(initParams(config, 7));

  const evalModel = buildModel(config, { ...build, batch: nTest });
  const cos = matmul(l2Normalize(evalModel.embedding!), l2Normalize(evalModel.params.get("head.weight")!), {
    transB: true,
  });
  const forward = await Forward.compile(device, step.store, evalModel, [cos]);
  const testX = data.images.slice(nTrain * PIXELS, (nTrain + nTest) * PIXELS);
  const testLabels = data.labels.slice(nTrain, nTrain + nTest);
  const accuracy = async (): Promise<number> => {
    forward.feed({ x: testX });
    const [logits] = await forward.run([cos]);
    let right = 0;
    for (let i = 0; i < nTest; i++) {
      const row = logits.subarray(i * DIGITS.length, (i + 1) * DIGITS.length);
      if (row.indexOf(Math.max(...row)) === testLabels[i]) right++;
    }
    return right / nTest;
  };
  const before = await accuracy();

  // Epochs over a seeded shuffle of the training images.
  const r = rng(7);
  let order: number[] = [];
  const x = new Float32Array(BATCH * PIXELS);
  const labels = new Float32Array(BATCH);
  const ones = new Float32Array(BATCH).fill(1);
  let first = 0;
  let last = 0;
  for (let s = 0; s < STEPS; s++) {
    for (let i = 0; i < BATCH; i++) {
      if (order.length === 0) order = shuffled(nTrain, r);
      const k = order.pop()!;
      x.set(data.images.subarray(k * PIXELS, (k + 1) * PIXELS), i * PIXELS);
      labels[i] = data.labels[k];
    }
    step.feed({ x, labels, weights: ones, domains: ones });
    step.run(LR);
    if (s === 9) first = (await step.drainMetrics()).loss / 10;
    if (s === STEPS - 1) last = (await step.drainMetrics()).loss / (STEPS - 10);
  }
  const after = await accuracy();
  forward.destroy();
  step.destroy();

  assert.ok(last < 0.7 * first, `mean training loss ${first} over the first 10 steps, ${last} after`);
  // Chance is 25% and the untrained model is near it; this run reaches 92.5% (measured; 88% and 88.5% with
  // other seeds), so 70% leaves margin for rounding differences between adapters while still failing on
  // a step that does not learn.
  assert.ok(before <= 0.5, `held-out accuracy before training ${before}`);
  assert.ok(after >= 0.7, `held-out accuracy ${after} (before training ${before})`);
});

/** 0..n-1 in a random order (Fisher-Yates). */
function shuffled(n: number, r: () => number): number[] {
  const a = Array.from({ length: n }, (_, k) => k);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor((r() + 1) / 2 * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

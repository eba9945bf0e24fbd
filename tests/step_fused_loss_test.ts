import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { Program } from "../src/compile/program.ts";
import { planStep, stepGraph } from "../src/compile/train_step.ts";
import { planBuffers } from "../src/compile/plan.ts";
import { evaluate } from "../src/graph/cpu.ts";
import type { Node } from "../src/graph/node.ts";
import { IGNORE_LABEL } from "../src/graph/ops/linear_cross_entropy.ts";
import type { LmConfig } from "../src/models/config.ts";
import { buildModel, type BuildOptions, type ModelGraph } from "../src/models/graph.ts";
import { randomBatch, startWeights } from "./step_fixture.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

/** A byte LM with a tokenizer-sized vocabulary that is no multiple of the 256-row chunks the fused loss takes. */
const lm: LmConfig = { backbone: "lm", context: 8, dim: 16, depth: 1, heads: 2, mlpRatio: 2, vocab: 1000 };
const B = 3;
const DOMAINS = 2;

/** LoRA on qkv and a gated pair on lm_head, lm_head's weight and bias trained too: every gradient path. */
const options: BuildOptions = {
  batch: B,
  domains: DOMAINS,
  loss: { kind: "lm" },
  lora: [
    { path: "blocks.0.attn.qkv", rank: 2, scale: 0.5, gated: false },
    { path: "lm_head", rank: 3, scale: 2, gated: true },
  ],
  trainable: (n) => n === "lm_head.weight" || n === "lm_head.bias",
  training: true,
};

/** The step's outputs (loss, per-domain losses, every gradient) on the GPU, outputs poisoned first. */
async function runStep(
  device: GPUDevice,
  model: ModelGraph,
  weights: Map<string, Float32Array>,
  labels: Float32Array,
): Promise<{ values: Float32Array[]; names: string[] }> {
  const { gradNodes, loss, domainLoss } = stepGraph(model);
  const outputs = [loss, domainLoss, ...gradNodes.values()];
  const program = await Program.compile(device, outputs, { poison: true });
  for (const [name, p] of model.params) program.write(p, weights.get(name)!);
  const batch = { ...randomBatch(lm, B, DOMAINS, 5), labels };
  const i = model.inputs;
  program.write(i.x, Float32Array.from(batch.x, (v) => v * 3));
  program.write(i.labels, batch.labels);
  program.write(i.weights, batch.weights);
  program.write(i.domains, batch.domains);
  program.write(i.gate!, batch.gate!);
  program.run();
  const values = await Promise.all(outputs.map((o) => program.read(o)));
  program.destroy();
  return { values, names: ["loss", "domain losses", ...[...gradNodes.keys()].map((p) => p.name)] };
}

Deno.test("an LM step with the fused loss equals the whole-logits step: loss, domain losses, LoRA (lm_head too) and head gradients", async () => {
  const device = await testDevice();
  if (!device) return;
  const fused = buildModel(lm, { ...options, lossChunk: 256 });
  const whole = buildModel(lm, { ...options, lossChunk: 0 });
  assert.ok(!planStep(whole, 0).kernels.includes("linear_cross_entropy"));
  assert.ok(planStep(fused, 0).kernels.includes("linear_cross_entropy"));
  const weights = startWeights(fused, 3);
  const labels = Float32Array.from(randoms(B * lm.context, 8, 0, 1000), Math.floor);
  const a = await runStep(device, fused, weights, labels);
  const b = await runStep(device, whole, weights, labels);
  assert.deepEqual(a.names, b.names);
  assert.ok(a.names.includes("lm_head.lora_B.hq.weight") && a.names.includes("lm_head.bias"));
  // Both are f32 on the GPU, summed in other orders: the loss to 1e-6, gradients to 1e-4 (measured below 3e-5).
  assert.ok(relError(a.values[0], b.values[0]) <= 1e-6, `loss ${a.values[0]} vs ${b.values[0]}`);
  assert.ok(relError(a.values[1], b.values[1]) <= 1e-6, `domain losses ${a.values[1]} vs ${b.values[1]}`);
  a.values.slice(2).forEach((v, k) => {
    const err = relError(v, b.values[k + 2]);
    assert.ok(err <= 1e-4, `${a.names[k + 2]}: relative error ${err}`);
  });
});

Deno.test("the fused LM loss skips labels of -1: each example's mean over its other tokens, float64 on the GPU, 0 with none", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(lm, { ...options, lossChunk: 256 });
  const weights = startWeights(model, 4);
  const labels = Float32Array.from(randoms(B * lm.context, 9, 0, 1000), Math.floor);
  [1, 2, 6].forEach((t) => labels[t] = IGNORE_LABEL);
  labels.fill(IGNORE_LABEL, 2 * lm.context); // the last example has no target
  const { values, names } = await runStep(device, model, weights, labels);
  const { gradNodes, loss } = stepGraph(model);
  const feeds = new Map<Node | string, Float32Array>(weights);
  const batch = { ...randomBatch(lm, B, DOMAINS, 5), labels };
  const i = model.inputs;
  feeds.set(i.x, Float32Array.from(batch.x, (v) => v * 3)).set(i.labels, labels).set(i.weights, batch.weights)
    .set(i.domains, batch.domains).set(i.gate!, batch.gate!);
  const ref = evaluate([loss, model.perExample, ...gradNodes.values()], feeds);
  const per = ref.get(model.perExample)!;
  assert.equal(per[2], 0, "an example without targets");
  assert.ok(per[0] > 0 && per[1] > 0);
  assert.ok(relError(values[0], ref.get(loss)!) <= 1e-6, `loss ${values[0]} vs float64 ${ref.get(loss)}`);
  [...gradNodes.values()].forEach((g, k) => {
    const err = relError(values[k + 2], ref.get(g)!);
    // f32 against float64: the bound the kernel tests hold the unfused path to (measured 1.6e-4)
    assert.ok(err <= 5e-4, `${names[k + 2]}: relative error ${err} against float64`);
  });
  // The mean divides by the counted tokens: example 0 counts 5 of its 8, each token's loss alone (every
  // other label -1) averages to its mean.
  const kept = [0, 3, 4, 5, 7];
  const alone = kept.map((t) => {
    const only = Float32Array.from(labels).fill(IGNORE_LABEL, 0, lm.context);
    only[t] = labels[t];
    return evaluate([model.perExample], new Map(feeds).set(i.labels, only)).get(model.perExample)![0];
  });
  const mean = alone.reduce((x, y) => x + y, 0) / kept.length;
  assert.ok(Math.abs(per[0] - mean) <= 1e-12 * mean, `mean ${per[0]} vs ${mean} over the counted tokens`);
});

Deno.test("the unfused LM loss (whole logits) skips labels of -1 as the fused one does, float64 and on the GPU", async () => {
  const fused = buildModel(lm, { ...options, lossChunk: 256 });
  const unfused = buildModel(lm, { ...options, lossChunk: 0 });
  const weights = startWeights(fused, 4);
  const labels = Float32Array.from(randoms(B * lm.context, 9, 0, 1000), Math.floor);
  [1, 2, 6, 12].forEach((t) => labels[t] = IGNORE_LABEL);
  labels.fill(IGNORE_LABEL, 2 * lm.context); // the last example has no target
  const batch = { ...randomBatch(lm, B, DOMAINS, 5), labels };
  const feedsOf = (model: ModelGraph) => {
    const i = model.inputs;
    return new Map<Node | string, Float32Array>(weights).set(i.x, Float32Array.from(batch.x, (v) => v * 3))
      .set(i.labels, labels).set(i.weights, batch.weights).set(i.domains, batch.domains).set(
        i.gate!,
        batch.gate!,
      );
  };
  const want = evaluate([fused.perExample], feedsOf(fused)).get(fused.perExample)!;
  const step = stepGraph(unfused);
  const ref = evaluate([step.loss, unfused.perExample, ...step.gradNodes.values()], feedsOf(unfused));
  const got = ref.get(unfused.perExample)!;
  assert.equal(got[2], 0, "an example without targets");
  for (let b = 0; b < B; b++) {
    assert.ok(
      Math.abs(got[b] - want[b]) <= 1e-12 * Math.max(1, want[b]),
      `example ${b}: ${got[b]} vs ${want[b]}`,
    );
  }
  const device = await testDevice();
  if (!device) return;
  const { values, names } = await runStep(device, unfused, weights, labels);
  assert.ok(
    relError(values[0], ref.get(step.loss)!) <= 1e-6,
    `loss ${values[0]} vs float64 ${ref.get(step.loss)}`,
  );
  [...step.gradNodes.values()].forEach((g, k) => {
    const err = relError(values[k + 2], ref.get(g)!);
    assert.ok(err <= 5e-4, `${names[k + 2]}: relative error ${err} against float64`);
  });
});

Deno.test("planned activations of a GPT-2-vocabulary LM (6 x 384, 50,257 ids, 2 x 128 tokens) hold no [tokens, vocab] logits", () => {
  const config: LmConfig = {
    backbone: "lm",
    context: 128,
    dim: 384,
    depth: 6,
    heads: 6,
    mlpRatio: 4,
    vocab: 50257,
  };
  const build = (lossChunk?: number) =>
    buildModel(config, {
      batch: 2,
      domains: 1,
      loss: { kind: "lm" },
      lora: [{ path: "blocks.0.attn.qkv", rank: 8, scale: 1, gated: false }],
      lossChunk,
    });
  const logits = 2 * 128 * 50257 * 4; // 51.5 MB
  const largest = (m: ModelGraph) => {
    const { outputs } = stepGraph(m);
    return Math.max(...planBuffers(outputs, new Set([...m.params.values(), ...outputs])).sizes);
  };
  const fused = build();
  const whole = build(0);
  assert.ok(largest(whole) >= logits, `the whole-logits plan's largest buffer ${largest(whole)}`);
  // the fused loss's largest buffer is one chunk of logits, 16 MiB at most
  assert.ok(largest(fused) <= 16 * 2 ** 20, `largest planned buffer ${largest(fused)} bytes`);
  const [a, b] = [planStep(fused, 0).memory.activations, planStep(whole, 0).memory.activations];
  // measured: 57,554,000 bytes fused, 126,136,368 with whole logits (the logits and their gradient overlap)
  assert.ok(a <= b - logits, `activations ${a} (fused) vs ${b} (whole logits)`);
});

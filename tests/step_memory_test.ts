import assert from "node:assert/strict";
import { textureReads } from "../src/gpu/operand_textures.ts";
import "../src/graph/ops/mod.ts";
import { planBuffers } from "../src/compile/plan.ts";
import { planStep, stepGraph, TrainStep } from "../src/compile/train_step.ts";
import { opDef } from "../src/graph/op.ts";
import type { VitConfig } from "../src/models/config.ts";
import { buildModel, type BuildOptions, type ModelGraph } from "../src/models/graph.ts";
import { testDevice } from "./_harness.ts";
import { tinyVit } from "./step_fixture.ts";

const options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, clip: 1 };
const lora: BuildOptions = {
  batch: 4,
  domains: 2,
  loss: { kind: "cosface", scale: 8, margin: 0.2 },
  lora: ["blocks.0.attn.qkv", "feature"].map((path) => ({ path, rank: 2, scale: 0.5, gated: true })),
  trainable: (n) => n === "head.weight",
};

/** Bytes of the given parameters, each tensor rounded up to 256 bytes as the parameter store lays them out. */
function alignedBytes(model: ModelGraph, trainable: boolean): number {
  return [...model.params.values()].filter((p) => p.trainable === trainable)
    .reduce((a, p) => a + Math.ceil(p.size * 4 / 256) * 256, 0);
}

Deno.test("TrainStep.memory() = frozen + activations + 4x trainable floats, and planStep() agrees", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(tinyVit, lora);
  const step = await TrainStep.compile(device, model, options);
  const mem = step.memory();
  const trainableBytes = alignedBytes(model, true);
  // theta, gradient and both Adam moments; frozen weights are stored once and nothing else.
  assert.equal(mem.trainableState, 4 * trainableBytes);
  assert.equal(mem.frozen, alignedBytes(model, false));
  assert.equal(mem.total, mem.frozen + mem.trainableState + mem.activations + (mem.textures ?? 0));
  // The real moment buffers are laid out like theta: one float per trainable float, none for frozen ones.
  const state = await step.optimizerState();
  assert.equal(state.m.length * 4, trainableBytes);
  assert.equal(state.v.length * 4, trainableBytes);
  // Gradients exist for trainable parameters only.
  const withGrad = [...stepGraph(model).gradNodes.keys()].map((p) => p.name).sort();
  assert.deepEqual(withGrad, [...model.params.values()].filter((p) => p.trainable).map((p) => p.name).sort());

  // planned for this device: its operand textures count where it reads them (lavapipe)
  const plan = planStep(model, options.clip, "f32", {}, undefined, textureReads(device));
  assert.deepEqual(plan.memory, mem);
  assert.deepEqual(plan.kernels, step.kernels());
  step.destroy();
});

Deno.test("planStep() agrees with TrainStep.memory() under full fine-tuning (nothing frozen)", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(tinyVit, { ...lora, lora: undefined, trainable: () => true });
  const step = await TrainStep.compile(device, model, options);
  const mem = step.memory();
  step.destroy();
  assert.equal(mem.trainableState, 4 * alignedBytes(model, true));
  assert.deepEqual(planStep(model, options.clip, "f32", {}, undefined, textureReads(device)).memory, mem);
});

Deno.test("planStep() trainable state of LoRA is far smaller than full fine-tuning's, frozen weights cost 1x", () => {
  const config: VitConfig = { ...tinyVit, image: 28, patch: 7, dim: 64, depth: 2, heads: 4, embedDim: 32 };
  const loraModel = buildModel(config, { ...lora, lora: lora.lora!.map((l) => ({ ...l, gated: false })) });
  const full = buildModel(config, { ...lora, lora: undefined, trainable: () => true });
  const a = planStep(loraModel, 1).memory;
  const b = planStep(full, 1).memory;
  assert.equal(a.trainableState, 4 * alignedBytes(loraModel, true));
  assert.equal(b.trainableState, 4 * alignedBytes(full, true));
  // Full fine-tuning pays 4 bytes x 4 per weight; LoRA pays 4 bytes per frozen weight plus 16 per adapter weight.
  assert.ok(a.trainableState * 10 < b.trainableState, `LoRA ${a.trainableState} vs full ${b.trainableState}`);
  assert.ok(
    a.frozen + a.trainableState < b.frozen + b.trainableState,
    `LoRA ${JSON.stringify(a)} vs full ${JSON.stringify(b)}`,
  );
});

Deno.test("planBuffers() of a step reuses memory: planned bytes are less than the sum of every intermediate value", () => {
  const model = buildModel(tinyVit, lora);
  // Pinned as the step pins them: parameters, gradients, loss and per-domain losses.
  const { outputs } = stepGraph(model);
  const pinned = new Set([...model.params.values(), ...outputs]);
  const plan = planBuffers(outputs, pinned);
  const align = (bytes: number) => Math.max(16, Math.ceil(bytes / 16) * 16);
  let separate = 0;
  plan.ops.forEach((n, i) => {
    if (!opDef(n.op).view && !pinned.has(n)) separate += align(n.size * 4);
    for (const floats of plan.lowerings[i]?.scratch ?? []) separate += align(floats * 4);
  });
  // Every planned buffer is as big as the largest value it held, so reuse must beat one buffer per value.
  assert.ok(plan.bytes < separate, `planned ${plan.bytes} bytes vs ${separate} without reuse`);
  assert.ok(plan.bytes <= 0.6 * separate, `planned ${plan.bytes} bytes vs ${separate} without reuse`);
  assert.equal(planStep(model, 1).memory.activations - plan.bytes, leafBytes(model));
});

/** Input buffers of a step: x, labels, weights, domains, gate (each 16-byte aligned). */
function leafBytes(model: ModelGraph): number {
  const i = model.inputs;
  return [i.x, i.labels, i.weights, i.domains, i.gate!].reduce(
    (a, n) => a + Math.max(16, Math.ceil(n.size / 4) * 16),
    0,
  );
}

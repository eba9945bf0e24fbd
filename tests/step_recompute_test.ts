import { textureReads } from "../src/gpu/operand_textures.ts";
import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { planStep, stepGraph, TrainStep } from "../src/compile/train_step.ts";
import { Program } from "../src/compile/program.ts";
import { input, param, topo } from "../src/graph/node.ts";
import { add } from "../src/graph/ops/elementwise.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { relu, scale } from "../src/graph/ops/unary.ts";
import { recomputed } from "../src/graph/recompute.ts";
import type { LmConfig, ModelConfig } from "../src/models/config.ts";
import { buildModel, type BuildOptions } from "../src/models/graph.ts";
import { randomBatch, startWeights, tinyVit } from "./step_fixture.ts";
import { randoms, testDevice } from "./_harness.ts";
import { TINY_GPT2, TINY_LLAMA, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";

const lm: LmConfig = { backbone: "lm", context: 8, dim: 16, depth: 2, heads: 2, mlpRatio: 2, vocab: 1000 };
const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, clip: 0.5 };

Deno.test("recomputed() takes the values between checkpoints of the input's residual stream, not weights", () => {
  const x = input("x", [4]);
  const w = param("w", [4], true);
  const wx = scale(w, 3); // made from the weight alone: kept
  const a = relu(add(x, wx));
  const b = scale(a, 2);
  const r1 = add(x, b); // every later value reads x's path through r1: a checkpoint
  const c = relu(r1);
  const r2 = add(r1, c);
  const loss = sumAll(r2);
  const again = recomputed([loss], x);
  assert.deepEqual([...again].map((n) => n.id).sort(), [a.inputs[0], a, b, c].map((n) => n.id).sort());
  assert.ok(!again.has(wx) && !again.has(r1) && !again.has(r2) && !again.has(loss));
});

/** LoRA (with dropout) on qkv and fc1, a gated pair on lm_head, lm_head and the norms trained. */
function lmOptions(batch: number): BuildOptions {
  return {
    batch,
    domains: 2,
    loss: { kind: "lm" },
    lora: [
      { path: "blocks.0.attn.qkv", rank: 2, scale: 0.5, gated: false, dropout: 0.25 },
      { path: "blocks.1.mlp.fc1", rank: 2, scale: 1, gated: false },
      { path: "lm_head", rank: 3, scale: 2, gated: true },
    ],
    trainable: (n) => n.startsWith("lm_head") || n.includes(".ln"),
    training: true,
  };
}

/** The step's outputs (loss, domain losses, every gradient) on the GPU, planned buffers poisoned with NaN. */
async function stepOutputs(
  device: GPUDevice,
  config: ModelConfig,
  options: BuildOptions,
  recompute: boolean,
): Promise<{ values: Float32Array[]; ops: number }> {
  const model = buildModel(config, options);
  const { outputs } = stepGraph(model, { recompute });
  const program = await Program.compile(device, outputs, { poison: true });
  // the built-in models' init, random values for a pretrained graph's own weights and for LoRA's B
  const start = config.backbone === "pretrained" ? new Map<string, Float32Array>() : startWeights(model, 3);
  let seed = 100;
  for (const [name, p] of model.params) {
    program.write(p, start.get(name) ?? randoms(p.size, ++seed, -0.3, 0.3));
  }
  const b = randomBatch(config, options.batch, options.domains, 5);
  const i = model.inputs;
  program.write(i.x, b.x);
  program.write(i.labels, b.labels);
  program.write(i.weights, b.weights);
  program.write(i.domains, b.domains);
  if (i.gate) program.write(i.gate, b.gate!);
  if (i.dropoutSeed) program.write(i.dropoutSeed, Float32Array.of(1234));
  program.run();
  const values = await Promise.all(outputs.map((o) => program.read(o)));
  program.destroy();
  return { values, ops: topo(outputs).filter((n) => n.role === "op").length };
}

Deno.test("with recomputed activations a step's loss, domain losses and gradients are bit for bit those of the plain step (LM with dropout, ViT with a gate)", async () => {
  const device = await testDevice();
  if (!device) return;
  const vit: BuildOptions = {
    batch: 3,
    domains: 2,
    loss: { kind: "cosface", scale: 8, margin: 0.2 },
    lora: [{ path: "blocks.0.attn.qkv", rank: 2, scale: 1, gated: true }],
    trainable: (n) => n === "head.weight",
    training: true,
  };
  for (const [config, options] of [[lm, lmOptions(3)], [tinyVit, vit]] as const) {
    const plain = await stepOutputs(device, config, options, false);
    const again = await stepOutputs(device, config, options, true);
    assert.equal(again.values.length, plain.values.length);
    // the backward reads copies: more ops, the forward's values between checkpoints computed twice
    assert.ok(again.ops > plain.ops, `${again.ops} ops against ${plain.ops}`);
    // the copies run the same kernels on the same inputs (dropout masks hash the same seed), so the same bits
    again.values.forEach((v, k) => assert.deepEqual(v, plain.values[k], `${config.backbone} output ${k}`));
    assert.ok(plain.values.every((v) => v.every(Number.isFinite)));
  }
});

Deno.test("recomputation plans fewer activation bytes for a GPT-2-shaped LM (6 x 384, 50,257 ids, 8 x 128 tokens)", () => {
  const config: LmConfig = {
    backbone: "lm",
    context: 128,
    dim: 384,
    depth: 6,
    heads: 6,
    mlpRatio: 4,
    vocab: 50257,
  };
  const model = buildModel(config, {
    batch: 8,
    domains: 1,
    loss: { kind: "lm" },
    lora: Array.from(
      { length: 6 },
      (_, i) => ({ path: `blocks.${i}.attn.qkv`, rank: 8, scale: 1, gated: false }),
    ),
  });
  const kept = planStep(model, 0).memory;
  const again = planStep(model, 0, "f32", { recompute: true }).memory;
  // measured: 153.71 MiB kept, 108.51 MiB recomputed (0.706x)
  assert.ok(again.activations < 0.75 * kept.activations, `${again.activations} vs ${kept.activations}`);
  assert.equal(again.trainableState, kept.trainableState);
  assert.equal(again.frozen, kept.frozen);
});

Deno.test("a TrainStep that recomputes (and accumulates) trains to the same bits as one that does not", async () => {
  const device = await testDevice();
  if (!device) return;
  const model = buildModel(lm, lmOptions(2));
  const start = startWeights(model, 4);
  const run = async (recompute: boolean) => {
    const step = await TrainStep.compile(device, model, { ...ADAM, seed: 7, accumulate: 2, recompute });
    const shape = { accumulate: 2, recompute };
    assert.deepEqual(
      step.memory(),
      planStep(model, ADAM.clip, "f32", shape, undefined, textureReads(device)).memory,
    );
    step.store.upload(start);
    for (let s = 0; s < 2; s++) {
      step.feed(randomBatch(lm, 4, 2, 20 + s));
      step.run(1e-2);
    }
    const m = await step.drainMetrics();
    const weights = await step.store.download();
    step.destroy();
    return { loss: m.loss, domainLoss: m.domainLoss, weights };
  };
  const plain = await run(false);
  const again = await run(true);
  assert.equal(again.loss, plain.loss);
  assert.deepEqual(again.domainLoss, plain.domainLoss);
  for (const [name, v] of plain.weights) assert.deepEqual(again.weights.get(name), v, name);
});

Deno.test("recomputation gives the same bits on pretrained GPT-2 and Llama graphs (two blocks, LoRA on attention)", async () => {
  const device = await testDevice();
  if (!device) return;
  const dir = await Deno.makeTempDir({ prefix: "mixtune_recompute_" });
  try {
    const cases = [
      { name: "gpt2", config: { ...TINY_GPT2, n_layer: 2 }, target: "transformer.h.*.attn.c_attn" },
      {
        name: "llama",
        config: { ...TINY_LLAMA, num_hidden_layers: 2 },
        target: "model.layers.*.self_attn.v_proj",
      },
    ];
    for (const [k, c] of cases.entries()) {
      await writeTinyCheckpoint(`${dir}/${k}`, c.config);
      const model: ModelConfig = { backbone: "pretrained", pretrained: `${dir}/${k}`, context: 8 };
      const options: BuildOptions = {
        batch: 2,
        domains: 1,
        loss: { kind: "lm" },
        lora: [0, 1].map((b) => ({
          path: c.target.replace("*", String(b)),
          rank: 2,
          scale: 1,
          gated: false,
          dropout: 0.1,
        })),
        training: true,
      };
      const plain = await stepOutputs(device, model, options, false);
      const again = await stepOutputs(device, model, options, true);
      assert.ok(again.ops > plain.ops, `${c.name}: ${again.ops} ops against ${plain.ops}`);
      again.values.forEach((v, j) => assert.deepEqual(v, plain.values[j], `${c.name} output ${j}`));
      assert.ok(plain.values.every((v) => v.every(Number.isFinite)), `${c.name}: finite outputs`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * frozenDtype "stored" (the default for pretrained models): a bf16 checkpoint's frozen matmul weights and
 * embeddings (a tied one is also the output projection) stay bf16 on the GPU and an f16 one's f16, exactly,
 * so a LoRA step computes what it computes over f32 copies in less memory. Checkpoints from tests/fixtures/hf_reference.py; without torch the test is ignored by name,
 * except in CI (CI=true), where it runs and fails.
 */
import assert from "node:assert/strict";
import { TrainStep } from "../src/compile/train_step.ts";
import { loraNames } from "../src/models/_linear.ts";
import { buildModel } from "../src/models/graph.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { testDevice } from "./_harness.ts";
import { fixtureDir, torchStatus } from "./_hf_reference.ts";

const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clip: 1 };
const { missing, ci } = torchStatus;
const ignore = missing !== null && !ci;

async function stored(name: string, target: string, dtype: string): Promise<void> {
  const device = await testDevice();
  if (!device) return;
  const dir = `${await fixtureDir()}/${name}`;
  const checkpoint = await readPretrained(dir);
  assert.deepEqual(new Set(checkpoint.dtypes.values()), new Set([dtype]));
  const [B, T] = [2, 6];
  const model = buildModel({ backbone: "pretrained", pretrained: dir, context: T }, {
    batch: B,
    domains: 1,
    loss: { kind: "lm" },
    lora: [{ path: target, rank: 2, scale: 1, gated: false }],
  });
  const values = new Map(checkpoint.weights);
  const { A, B: up } = loraNames(target);
  const shape = (n: string) => model.params.get(n)!.shape;
  values.set(A, Float32Array.from({ length: shape(A)[0] * shape(A)[1] }, (_, i) => Math.sin(i) * 0.1));
  values.set(up, Float32Array.from({ length: shape(up)[0] * shape(up)[1] }, (_, i) => Math.cos(i) * 0.1));
  const embed = "model.embed_tokens.weight";
  const vocab = model.params.get(embed)!.shape[0];
  const ids = Float32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % vocab);
  const batch = {
    x: ids,
    labels: Float32Array.from(ids, (v) => (v * 7 + 3) % vocab),
    weights: new Float32Array(B).fill(1),
    domains: new Float32Array(B).fill(1),
  };
  const run = async (frozenDtype: "f32" | "stored") => {
    const step = await TrainStep.compile(device, model, { ...ADAM, frozenDtype, stored: checkpoint.dtypes });
    try {
      step.store.upload(values);
      const losses: number[] = [];
      for (let k = 0; k < 2; k++) {
        step.feed(batch);
        step.run(1e-2);
        losses.push((await step.drainMetrics()).loss);
      }
      const after = await step.store.download();
      const embedding = step.store.slot(embed).half ?? false;
      return { losses, memory: step.memory(), B: after.get(up)!, embedding };
    } finally {
      step.destroy();
    }
  };
  const f32 = await run("f32");
  const kept = await run("stored");
  // the same values read through another load: the same bits
  assert.deepEqual(kept.losses, f32.losses);
  assert.deepEqual(kept.B, f32.B);
  // the embedding (tied: the output projection too) is kept in 16 bits: at least its half of the f32 bytes saved
  const half = model.params.get(embed)!.size * 2;
  assert.equal(kept.embedding, dtype === "BF16" ? "bf16" : "f16");
  assert.equal(f32.embedding, false);
  assert.ok(
    kept.memory.frozenF16! >= half && f32.memory.frozen - kept.memory.frozen >= half,
    JSON.stringify([kept.memory, f32.memory]),
  );
}

Deno.test({
  name: "frozenDtype stored: a bf16 Llama's LoRA steps equal the f32 ones bit for bit, with bf16 weights",
  ignore,
  fn: () => stored("llama_bf16_sharded", "model.layers.0.self_attn.q_proj", "BF16"),
});
Deno.test({
  name:
    "frozenDtype stored: an f16 Qwen2's (tied) LoRA steps equal the f32 ones bit for bit, with f16 weights",
  ignore,
  fn: () => stored("qwen2_f16_tied", "model.layers.1.mlp.down_proj", "F16"),
});
Deno.test({
  name:
    "frozenDtype stored: a bf16 tied Qwen2's LoRA steps equal the f32 ones bit for bit, embedding in bf16",
  ignore,
  fn: () => stored("qwen2_bf16_tied", "model.layers.0.self_attn.q_proj", "BF16"),
});

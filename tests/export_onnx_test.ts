import assert from "node:assert/strict";
import type { VitConfig } from "../src/models/config.ts";
import { decodeModel } from "../src/export/_onnx_proto.ts";
import { ExportError } from "../src/export/errors.ts";
import { vitToOnnx } from "../src/export/onnx.ts";
import { ortEmbeddings, parity, runOnnx } from "../src/export/ort.ts";
import { randomImages, randomLora, randomVitWeights, refVitForward } from "./_ref_vit.ts";

/** Exported float32 model vs float64 reference: max |a - b| / max |b| per output. */
const TOLERANCE = 1e-4;
const S = 16;
const config: VitConfig = {
  backbone: "vit",
  image: 28,
  patch: 7, // 4 x 4 = 16 tokens
  dim: 32,
  depth: 2,
  heads: 2,
  mlpRatio: 4,
  embedDim: 16,
  classes: 5,
};
const weights = randomVitWeights(config, 1);
const adapted = ["blocks.0.attn.qkv", "blocks.1.attn.qkv", "feature"];
const plain = randomLora(config, adapted, { rank: 4, seed: 2, scale: 0.5 });
const gated = randomLora(config, [...adapted, "head"], { rank: 4, seed: 3, gated: true });

async function run(model: Uint8Array, images: Float32Array, batch: number, gate?: Float64Array) {
  const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
    image: { data: images, dims: [batch, config.image * config.image] },
  };
  if (gate) feeds.gate = { data: Float32Array.from(gate), dims: [batch] };
  return await runOnnx(model, feeds, { threads: 1 });
}

Deno.test("vitToOnnx() with merged plain LoRA matches the unmerged float64 reference at batch 1 and 5", async () => {
  const model = vitToOnnx(config, weights, { logitScale: S, lora: plain });
  for (const batch of [1, 5]) {
    const images = randomImages(config, batch, 10 + batch);
    const out = await run(model, images, batch);
    assert.deepEqual(out.embedding.dims, [batch, config.embedDim]);
    assert.deepEqual(out.logits.dims, [batch, config.classes]);
    const ref = refVitForward(config, weights, images, batch, { logitScale: S, lora: plain });
    const p = parity(out, ref);
    assert.ok(p.maxRelError <= TOLERANCE, `batch ${batch}: ${JSON.stringify(p)}`);
    // The adapters must matter, or this comparison would not test the merge.
    const base = refVitForward(config, weights, images, batch, { logitScale: S });
    assert.ok(parity(out, base).maxRelError > 1e-2);
  }
  // Merged: one input, no LoRA tensors left in the file.
  const decoded = decodeModel(model) as {
    graph: { input: { name: string }[]; initializer: { name: string }[] };
  };
  assert.deepEqual(decoded.graph.input.map((i) => i.name), ["image"]);
  assert.equal(decoded.graph.initializer.filter((t) => t.name.includes("lora")).length, 0);
});

Deno.test("vitToOnnx() with gated LoRA takes a per-example gate and matches the reference", async () => {
  const model = vitToOnnx(config, weights, { logitScale: S, lora: gated });
  for (const batch of [1, 5]) {
    const images = randomImages(config, batch, 20 + batch);
    // Includes values outside [0, 1]: PETALface does not clamp its quality weight.
    const gate = Float64Array.from({ length: batch }, (_, i) => 1.2 - 0.35 * i);
    const out = await run(model, images, batch, gate);
    const ref = refVitForward(config, weights, images, batch, { logitScale: S, lora: gated, gate });
    const p = parity(out, ref);
    assert.ok(p.maxRelError <= TOLERANCE, `batch ${batch}: ${JSON.stringify(p)}`);
    const flipped = refVitForward(config, weights, images, batch, {
      logitScale: S,
      lora: gated,
      gate: gate.map((g) => 1 - g),
    });
    assert.ok(parity(out, flipped).maxRelError > 1e-2, "the gate must change the outputs");
  }
});

Deno.test("vitToOnnx() declares opset 17, a dynamic batch dim and the named inputs and outputs", () => {
  const m = decodeModel(vitToOnnx(config, weights, { logitScale: S, lora: gated })) as {
    ir_version: number;
    opset_import: { domain?: string; version: number }[];
    graph: { input: unknown[]; output: unknown[] };
  };
  assert.equal(m.ir_version, 8);
  assert.deepEqual(m.opset_import, [{ domain: "", version: 17 }]);
  const dims = (
    v: unknown,
  ) => (v as { name: string; type: { tensor_type: { shape: { dim: Record<string, unknown>[] } } } });
  assert.deepEqual(
    [...m.graph.input, ...m.graph.output].map((v) => [dims(v).name, dims(v).type.tensor_type.shape.dim]),
    [
      ["image", [{ dim_param: "batch" }, { dim_value: 784 }]],
      ["gate", [{ dim_param: "batch" }]],
      ["embedding", [{ dim_param: "batch" }, { dim_value: 16 }]],
      ["logits", [{ dim_param: "batch" }, { dim_value: 5 }]],
    ],
  );
});

Deno.test("ortEmbeddings() in chunks equals one run of the whole batch", async () => {
  const model = vitToOnnx(config, weights, { logitScale: S, lora: gated });
  const images = randomImages(config, 5, 30);
  const gate = Float64Array.from([0.1, 0.9, 0.5, 0.3, 0.7]);
  const whole = await run(model, images, 5, gate);
  const chunked = await ortEmbeddings(model, images, 5, { chunk: 2, gate, threads: 1 });
  assert.equal(chunked.embedDim, 16);
  assert.equal(chunked.classes, 5);
  // Not bit-equal: onnxruntime's kernels block differently for other batch sizes.
  const p = parity({ embedding: chunked.embedding, logits: chunked.logits }, {
    embedding: whole.embedding.data,
    logits: whole.logits.data,
  });
  assert.ok(p.maxRelError <= 1e-6, JSON.stringify(p));
  await assert.rejects(
    () => ortEmbeddings(model, images, 5),
    new ExportError("ortEmbeddings: the model has a gate input; expected 5 gates, found none"),
  );
});

Deno.test("vitToOnnx() lists every misshapen weight and unknown LoRA path", () => {
  const bad = { ...weights, "feature.weight": { shape: [16, 31], data: new Float32Array(16 * 31) } };
  delete (bad as Record<string, unknown>)["norm.bias"];
  assert.throws(
    () => vitToOnnx(config, bad, { logitScale: S }),
    new ExportError(
      'invalid ViT weights:\n  weights["feature.weight"]: expected shape [16, 32], found [16, 31]\n' +
        '  weights["norm.bias"]: missing, expected shape [32]',
    ),
  );
  assert.throws(
    () => vitToOnnx(config, weights, { logitScale: S, lora: { "blocks.9.attn.qkv": plain["feature"] } }),
    (e: Error) =>
      e instanceof ExportError &&
      e.message.startsWith('invalid LoRA set:\n  lora["blocks.9.attn.qkv"]: no such'),
  );
});

Deno.test("parity() measures the worst error relative to each reference tensor's scale", () => {
  const p = parity({ a: [1, 2.5, -4], b: { data: new Float32Array([0, 0]), dims: [2] } }, {
    a: [1, 2, -4],
    b: [0, 0],
  });
  assert.deepEqual(p.perOutput, {
    a: { maxRelError: 0.125, maxAbsError: 0.5 },
    b: { maxRelError: 0, maxAbsError: 0 },
  });
  assert.equal(p.maxRelError, 0.125);
  assert.throws(() => parity({}, { a: [1] }), new ExportError('parity: output "a" is missing (have )'));
});

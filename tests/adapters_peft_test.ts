import assert from "node:assert/strict";
import { linearModules } from "../src/models/config.ts";
import { type AdapterWeights, initAdapters } from "../src/adapters/init.ts";
import { type AdapterSpec, placeAdapters } from "../src/adapters/placement.ts";
import { decodePeft, encodePeft, loadPeft, PeftError, savePeft } from "../src/adapters/peft.ts";
import { readSafetensors, writeSafetensors } from "../src/adapters/safetensors.ts";
import { Rng } from "../src/random.ts";

const modules = linearModules({
  backbone: "vit",
  image: 28,
  patch: 7,
  dim: 32,
  depth: 2,
  heads: 4,
  mlpRatio: 2,
  embedDim: 16,
  classes: 10,
});
const adapters: AdapterSpec[] = [
  { targets: "blocks.*.attn.qkv", rank: 8, scale: 1, init: "gaussian", dropout: 0.1 },
  { targets: "feature", rank: 4, scale: { alpha: 6 } },
];
const { placements } = placeAdapters(adapters, modules);
const scales = { "blocks.0.attn.qkv": 1, "blocks.1.attn.qkv": 1, feature: { alpha: 6 } };

/** Inits with B filled too, so the round trip carries non-zero data everywhere. */
function trainedWeights(): AdapterWeights[] {
  const rng = new Rng(7);
  const weights = initAdapters(placements, 3);
  for (const w of weights) for (const br of w.branches) br.b.forEach((_, i) => (br.b[i] = rng.normal()));
  weights[0].branches[0].a[0] = new Float32Array(new Uint32Array([0x7fc00123]).buffer)[0]; // a NaN payload
  return weights;
}

const head = { shape: [10, 16], data: Float32Array.from({ length: 160 }, (_, i) => i / 7) };

function bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.slice().buffer);
}

Deno.test("encodePeft() writes PEFT keys, shapes and only LoraConfig fields", () => {
  const files = encodePeft({
    placements,
    weights: trainedWeights(),
    scales,
    modulesToSave: ["head"],
    modules: { "head.weight": head },
  });
  const { tensors, metadata } = readSafetensors(files.model);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(Object.keys(tensors).sort(), [
    "base_model.model.blocks.0.attn.qkv.lora_A.weight",
    "base_model.model.blocks.0.attn.qkv.lora_B.weight",
    "base_model.model.blocks.1.attn.qkv.lora_A.weight",
    "base_model.model.blocks.1.attn.qkv.lora_B.weight",
    "base_model.model.feature.lora_A.weight",
    "base_model.model.feature.lora_B.weight",
    "base_model.model.head.weight",
  ]);
  assert.deepEqual(tensors["base_model.model.blocks.1.attn.qkv.lora_A.weight"].shape, [8, 32]);
  assert.deepEqual(tensors["base_model.model.blocks.1.attn.qkv.lora_B.weight"].shape, [96, 8]);
  assert.deepEqual(tensors["base_model.model.feature.lora_B.weight"].shape, [16, 4]);
  // qkv: multiplier 1 at r 8 -> lora_alpha 8 (8 / 8 = 1); feature keeps its own alpha 6 (6 / 4 = 1.5)
  assert.deepEqual(JSON.parse(files.config), {
    peft_type: "LORA",
    base_model_name_or_path: null,
    revision: null,
    task_type: null,
    inference_mode: true,
    r: 8,
    lora_alpha: 8,
    target_modules: ["blocks.0.attn.qkv", "blocks.1.attn.qkv", "feature"],
    lora_dropout: 0.1,
    fan_in_fan_out: false,
    bias: "none",
    use_rslora: false,
    modules_to_save: ["head"],
    init_lora_weights: true,
    rank_pattern: { "feature": 4 },
    alpha_pattern: { "feature": 6 },
  });
});

Deno.test("encodePeft() keeps an rsLoRA alpha as given and sets use_rslora", () => {
  const rs = placeAdapters([{ targets: "feature", rank: 9, scale: { alpha: 2, rslora: true } }], modules);
  const files = encodePeft({
    placements: rs.placements,
    weights: initAdapters(rs.placements, 1),
    scales: { feature: { alpha: 2, rslora: true } },
  });
  const config = JSON.parse(files.config);
  assert.equal(config.use_rslora, true);
  assert.equal(config.lora_alpha, 2);
  assert.equal(decodePeft(files).placements[0].scale, 2 / 3);
});

Deno.test("decodePeft() gives back every tensor bit for bit, with placements and scales", () => {
  const weights = trainedWeights();
  const back = decodePeft(
    encodePeft({ placements, weights, scales, modulesToSave: ["head"], modules: { "head.weight": head } }),
  );
  assert.deepEqual(
    back.placements.map((p) => [p.path, p.in, p.out, p.rank, p.scale, p.gated]),
    placements.map((p) => [p.path, p.in, p.out, p.rank, p.scale, p.gated]),
  );
  assert.deepEqual(back.placements.map((p) => p.scale), [1, 1, 1.5]);
  assert.deepEqual(back.modulesToSave, ["head"]);
  assert.deepEqual(bits(back.modules!["head.weight"].data), bits(head.data));
  weights.forEach((w, i) => {
    assert.equal(back.weights[i].path, w.path);
    assert.deepEqual(bits(back.weights[i].branches[0].a), bits(w.branches[0].a));
    assert.deepEqual(bits(back.weights[i].branches[0].b), bits(w.branches[0].b));
  });
});

Deno.test("savePeft() and loadPeft() round-trip through a folder; a missing folder is named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const weights = trainedWeights();
    await savePeft(`${dir}/adapter`, { placements, weights, scales });
    const back = await loadPeft(`${dir}/adapter`);
    assert.deepEqual(bits(back.weights[2].branches[0].b), bits(weights[2].branches[0].b));
    await assert.rejects(
      () => loadPeft(`${dir}/none`),
      (e: Error) => e instanceof PeftError && e.message === `${dir}/none/adapter_config.json: no such file`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodePeft() explains unknown tensors, wrong ranks and foreign configs", () => {
  const files = encodePeft({ placements, weights: trainedWeights(), scales, modules: {} });
  const config = JSON.parse(files.config);
  const withHead = encodePeft({
    placements,
    weights: trainedWeights(),
    scales,
    modulesToSave: ["head"],
    modules: { "head.weight": head },
  });
  assert.throws(
    () => decodePeft({ config: files.config, model: withHead.model }),
    (e: Error) =>
      e instanceof PeftError &&
      e.message === 'adapter_model.safetensors: "base_model.model.head.weight" is neither a LoRA matrix ' +
          "nor part of modules_to_save (none)",
  );
  assert.throws(
    () => decodePeft({ config: JSON.stringify({ ...config, rank_pattern: {} }), model: files.model }),
    (e: Error) =>
      e.message ===
        'adapter_model.safetensors: "feature" has lora_A [4,32] and lora_B [16,4], expected rank 8',
  );
  const { tensors } = readSafetensors(files.model);
  delete tensors["base_model.model.feature.lora_A.weight"];
  assert.throws(
    () => decodePeft({ config: files.config, model: writeSafetensors(tensors) }),
    (e: Error) =>
      e.message === 'adapter_model.safetensors has "base_model.model.feature.lora_B.weight" but no ' +
          '"base_model.model.feature.lora_A.weight"',
  );
  assert.throws(
    () => decodePeft({ config: JSON.stringify({ ...config, peft_type: "IA3" }), model: files.model }),
    (e: Error) => e.message === 'adapter_config.json: peft_type must be "LORA", found "IA3"',
  );
  assert.throws(
    () => decodePeft({ config: JSON.stringify({ ...config, fan_in_fan_out: "yes" }), model: files.model }),
    (e: Error) => e.message === 'adapter_config.json: fan_in_fan_out must be true or false, found "yes"',
  );
  // Conv1D bases (GPT-2): lora_A and lora_B keep their [r, in] and [out, r] shapes, so the weights read alike
  const conv1d = decodePeft({
    config: JSON.stringify({ ...config, fan_in_fan_out: true }),
    model: files.model,
  });
  const plain = decodePeft(files);
  assert.equal(conv1d.fanInFanOut, true);
  assert.equal(plain.fanInFanOut, false);
  assert.deepEqual(conv1d.weights, plain.weights);
  assert.deepEqual(conv1d.placements, plain.placements);
});

Deno.test("encodePeft() refuses gated placements and weights that do not match their placements", () => {
  const weights = trainedWeights();
  weights[2] = { path: "feature", branches: [{ a: new Float32Array(5), b: weights[2].branches[0].b }] };
  assert.throws(
    () => encodePeft({ placements, weights }),
    (e: Error) => e.message === '"feature" lora_A has 5 values, expected [4, 32] = 128',
  );
  const gated = placements.map((p) => ({ ...p, gated: true }));
  assert.throws(
    () => encodePeft({ placements: gated, weights: trainedWeights() }),
    (e: Error) =>
      e.message === '"blocks.0.attn.qkv" is gated: save its two branches as two adapters (saveAdapterFolder)',
  );
  assert.throws(
    () => encodePeft({ placements, weights: trainedWeights(), modules: { "head.weight": head } }),
    (e: Error) => e.message === 'module weight "head.weight" belongs to no module of modulesToSave ()',
  );
});

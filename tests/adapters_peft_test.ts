import assert from "@std/assert";
import { linearModules } from "../src/models/config.ts";
import { type AdapterWeights, initAdapters } from "../src/adapters/init.ts";
import { type AdapterSpec, placeAdapters } from "../src/adapters/placement.ts";
import { decodePeft, encodePeft, loadPeft, PeftError, peftKey, savePeft } from "../src/adapters/peft.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
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
  { targets: "blocks.*.attn.qkv", rank: 8, scale: 1, gated: true, init: "gaussian", dropout: 0.1 },
  { targets: "feature", rank: 4, scale: { alpha: 4 } },
];
const { placements } = placeAdapters(adapters, modules);

/** Inits with B filled too, so the round trip carries non-zero data everywhere. */
function trainedWeights(): AdapterWeights[] {
  const rng = new Rng(7);
  const weights = initAdapters(placements, 3);
  for (const w of weights) for (const br of w.branches) br.b.forEach((_, i) => (br.b[i] = rng.normal()));
  weights[0].branches[0].a[0] = new Float32Array(new Uint32Array([0x7fc00123]).buffer)[0]; // a NaN payload
  return weights;
}

function bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.slice().buffer);
}

Deno.test("encodePeft() writes PEFT keys, shapes and config fields", () => {
  const files = encodePeft({ adapters, placements, weights: trainedWeights() });
  const { tensors, metadata } = readSafetensors(files.model);
  assert.deepEqual(metadata, { format: "pt" });
  assert.deepEqual(Object.keys(tensors).sort(), [
    "base_model.model.blocks.0.attn.qkv.lora_A.hq.weight",
    "base_model.model.blocks.0.attn.qkv.lora_A.lq.weight",
    "base_model.model.blocks.0.attn.qkv.lora_B.hq.weight",
    "base_model.model.blocks.0.attn.qkv.lora_B.lq.weight",
    "base_model.model.blocks.1.attn.qkv.lora_A.hq.weight",
    "base_model.model.blocks.1.attn.qkv.lora_A.lq.weight",
    "base_model.model.blocks.1.attn.qkv.lora_B.hq.weight",
    "base_model.model.blocks.1.attn.qkv.lora_B.lq.weight",
    "base_model.model.feature.lora_A.weight",
    "base_model.model.feature.lora_B.weight",
  ]);
  assert.deepEqual(tensors[peftKey("blocks.1.attn.qkv", "A", 1)].shape, [8, 32]);
  assert.deepEqual(tensors[peftKey("blocks.1.attn.qkv", "B", 0)].shape, [96, 8]);
  assert.deepEqual(tensors[peftKey("feature", "B")].shape, [16, 4]);
  const config = JSON.parse(files.config);
  // first placement: r 8, scale 1 -> lora_alpha 8; feature: r 4, alpha 4 -> scale 1 -> alpha 4 = 1 * 4
  assert.equal(config.peft_type, "LORA");
  assert.equal(config.r, 8);
  assert.equal(config.lora_alpha, 8);
  assert.deepEqual(config.target_modules, ["blocks.0.attn.qkv", "blocks.1.attn.qkv", "feature"]);
  assert.equal(config.lora_dropout, 0.1);
  assert.equal(config.bias, "none");
  assert.equal(config.task_type, null);
  assert.equal(config.use_rslora, false);
  assert.deepEqual(config.rank_pattern, { "feature": 4 });
  assert.deepEqual(config.alpha_pattern, { "feature": 4 });
  assert.deepEqual(config.mixtune.adapters, adapters);
  assert.deepEqual(config.mixtune.placements, placements);
});

Deno.test("decodePeft() gives back every tensor bit for bit, with the spec", () => {
  const weights = trainedWeights();
  const extra = { gate: { kind: "petalface", threshold: 0.5 }, quality: { low: 1, high: 9 } };
  const back = decodePeft(encodePeft({ adapters, placements, weights, extra }));
  assert.deepEqual(back.adapters, adapters);
  assert.deepEqual(back.placements, placements);
  assert.deepEqual(back.extra, extra);
  assert.equal(back.weights.length, weights.length);
  weights.forEach((w, i) => {
    assert.equal(back.weights[i].path, w.path);
    w.branches.forEach((br, j) => {
      assert.deepEqual(bits(back.weights[i].branches[j].a), bits(br.a));
      assert.deepEqual(bits(back.weights[i].branches[j].b), bits(br.b));
    });
  });
});

Deno.test("savePeft() and loadPeft() round-trip through a folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const weights = trainedWeights();
    await savePeft(`${dir}/adapter`, { adapters, placements, weights });
    const back = await loadPeft(`${dir}/adapter`);
    assert.deepEqual(bits(back.weights[2].branches[0].b), bits(weights[2].branches[0].b));
    assert.equal(back.extra, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("decodePeft() explains missing tensors and foreign configs", () => {
  const files = encodePeft({ adapters, placements, weights: trainedWeights() });
  const config = JSON.parse(files.config);
  const fewer = { ...config, mixtune: { ...config.mixtune, placements: placements.slice(0, 2) } };
  assert.throws(
    () => decodePeft({ config: JSON.stringify(fewer), model: files.model }),
    (e: Error) =>
      e instanceof PeftError && e.message === "adapter_model.safetensors holds tensors no placement uses: " +
          "base_model.model.feature.lora_A.weight, base_model.model.feature.lora_B.weight",
  );
  const renamed = structuredClone(config);
  renamed.mixtune.placements[2].path = "head";
  assert.throws(
    () => decodePeft({ config: JSON.stringify(renamed), model: files.model }),
    (e: Error) =>
      e.message === 'adapter_model.safetensors has no tensor "base_model.model.head.lora_A.weight"',
  );
  const broken = structuredClone(config);
  delete broken.mixtune.placements[1].rank;
  assert.throws(
    () => decodePeft({ config: JSON.stringify(broken), model: files.model }),
    /^PeftError: adapter_config.json: mixtune.placements\[1\] must have a path, positive integer in, out and rank/,
  );
  const { mixtune: _, ...foreign } = config;
  assert.throws(
    () => decodePeft({ config: JSON.stringify(foreign), model: files.model }),
    (e: Error) =>
      e.message ===
        'adapter_config.json has no "mixtune" block; only adapters saved by mixtune can be loaded',
  );
});

Deno.test("encodePeft() refuses weights that do not match their placements", () => {
  const weights = trainedWeights();
  weights[2] = { path: "feature", branches: [{ a: new Float32Array(5), b: weights[2].branches[0].b }] };
  assert.throws(
    () => encodePeft({ adapters, placements, weights }),
    (e: Error) => e.message === '"feature" lora_A has 5 values, expected [4, 32] = 128',
  );
  assert.throws(
    () => encodePeft({ adapters, placements, weights: trainedWeights(), extra: { placements: [] } }),
    (e: Error) => e.message === "extra cannot use the reserved keys placements",
  );
});

/** readPretrained() on ViT checkpoints: both name layouts, the pooler, and the exact message for each bad folder. */
import assert from "node:assert/strict";
import { readSafetensors, type Tensor, writeSafetensors } from "../src/adapters/safetensors.ts";
import { parseArch } from "../src/models/pretrained/arch.ts";
import { PretrainedError } from "../src/models/pretrained/errors.ts";
import { checkPretrained, readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { checkpointTensors, pretrainedLinears } from "../src/models/pretrained/tensors.ts";
import { writePretrained } from "../src/models/pretrained/write.ts";
import { randoms } from "./_harness.ts";

const VIT = {
  model_type: "vit",
  architectures: ["ViTForImageClassification"],
  hidden_size: 8,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 12,
  image_size: 8,
  patch_size: 4,
  num_channels: 3,
  id2label: { "0": "a", "1": "b", "2": "c" },
};
const BARE = { ...VIT, architectures: ["ViTModel"], id2label: undefined };

function weights(config: Record<string, unknown>): Record<string, Tensor> {
  return Object.fromEntries(
    checkpointTensors(parseArch(config, "config.json")).map((t, i) => [
      t.name,
      { shape: t.shape, data: randoms(t.shape.reduce((a, b) => a * b, 1), i) },
    ]),
  );
}

async function folder(config: unknown, tensors: Record<string, Tensor>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_vit_" });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await Deno.writeFile(`${dir}/model.safetensors`, writeSafetensors(tensors));
  return dir;
}

/** Both the full read and the header-only check fail with `message` (DIR standing for `dir`). */
function rejects(dir: string, message: string): void {
  for (const read of [readPretrained, checkPretrained]) {
    assert.throws(() => read(dir), (e: Error) => {
      assert.ok(e instanceof PretrainedError, `${read.name}: ${e.name}: ${e.message}`);
      assert.equal(e.message, message.replaceAll("DIR", dir), read.name);
      return true;
    });
  }
}

const pooler = {
  "pooler.dense.weight": { shape: [8, 8], data: new Float32Array(64) },
  "pooler.dense.bias": { shape: [8], data: new Float32Array(8) },
};

Deno.test("parseArch() reads a ViT config: Hugging Face module paths with vit. under the classifier only", () => {
  const arch = parseArch(VIT, "config.json");
  assert.deepEqual(arch, {
    family: "vit",
    image: 8,
    patch: 4,
    channels: 3,
    dim: 8,
    depth: 1,
    heads: 2,
    inner: 12,
    eps: 1e-12,
    gelu: "erf",
    qkvBias: true,
    labels: 3,
    prefix: "vit.",
  });
  assert.deepEqual(pretrainedLinears(arch).map((m) => m.path), [
    "vit.encoder.layer.0.attention.attention.query",
    "vit.encoder.layer.0.attention.attention.key",
    "vit.encoder.layer.0.attention.attention.value",
    "vit.encoder.layer.0.attention.output.dense",
    "vit.encoder.layer.0.intermediate.dense",
    "vit.encoder.layer.0.output.dense",
    "classifier",
  ]);
  const bare = parseArch({ ...BARE, hidden_act: "gelu_pytorch_tanh", qkv_bias: false }, "config.json");
  assert.equal(bare.family === "vit" && bare.prefix + bare.gelu + bare.labels + bare.qkvBias, "tanh0false");
});

Deno.test("parseArch() names the config file and the setting for a ViT it cannot run", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { ...VIT, hidden_act: "relu" },
      'hidden_act "relu" is not supported (expected one of gelu, gelu_new, gelu_pytorch_tanh)',
    ],
    [{ ...VIT, patch_size: 3 }, "patch_size 3 does not divide image_size 8"],
    [{ ...VIT, num_attention_heads: 3 }, "num_attention_heads 3 does not divide hidden_size 8"],
    [
      { ...VIT, architectures: ["ViTForMaskedImageModeling"] },
      'architectures ["ViTForMaskedImageModeling"] is not supported for model_type "vit" (expected ["ViTForImageClassification"])',
    ],
    [{ ...VIT, id2label: {} }, "id2label is empty"],
  ];
  for (const [config, problem] of cases) {
    assert.throws(() => parseArch(config, "m/config.json"), {
      name: "PretrainedError",
      message: `m/config.json: ${problem}`,
    });
  }
});

Deno.test("readPretrained() maps vit. names both ways, as transformers does, and skips ViTModel's pooler", async () => {
  const w = weights(VIT);
  // saved from ViTModel (no vit., a pooler), read under ViTForImageClassification: the classifier stays top-level
  const bare = Object.fromEntries(Object.entries(w).map(([k, v]) => [k.replace(/^vit\./, ""), v]));
  const model = readPretrained(await folder(VIT, { ...bare, ...pooler }));
  assert.deepEqual(model.weights.get("vit.embeddings.cls_token"), w["vit.embeddings.cls_token"].data);
  assert.deepEqual(model.weights.get("classifier.bias"), w["classifier.bias"].data);
  assert.equal(model.weights.size, Object.keys(w).length);
  // saved from ViTForImageClassification, read under ViTModel: vit. dropped (its classifier is refused below)
  const prefixed = Object.fromEntries(Object.entries(weights(BARE)).map(([k, v]) => [`vit.${k}`, v]));
  const plain = readPretrained(await folder(BARE, prefixed));
  assert.ok(plain.weights.has("encoder.layer.0.attention.attention.query.weight"));
  // written back in the architecture's own layout: ViTModel's without vit.
  const out = await Deno.makeTempDir({ prefix: "mixtune_vit_" });
  await writePretrained(out, BARE, plain.weights);
  const names = Object.keys(readSafetensors(await Deno.readFile(`${out}/model.safetensors`)).tensors);
  assert.ok(
    names.includes("embeddings.patch_embeddings.projection.weight") &&
      !names.some((n) => n.startsWith("vit.")),
  );
});

Deno.test("readPretrained() and checkPretrained() name the file and tensor for missing, extra and misshapen ViT weights", async () => {
  const w = weights(VIT);
  const without = { ...w };
  delete without["classifier.weight"];
  rejects(await folder(VIT, without), 'DIR/model.safetensors: missing tensor "classifier.weight"');
  rejects(
    await folder(BARE, { ...weights(BARE), "classifier.weight": w["classifier.weight"] }),
    'DIR/model.safetensors: unexpected tensor "classifier.weight" (not a vit weight in this config)',
  );
  rejects(
    await folder(VIT, {
      ...w,
      "vit.embeddings.patch_embeddings.projection.weight": {
        shape: [8, 1, 4, 4],
        data: new Float32Array(128),
      },
    }),
    'DIR/model.safetensors: tensor "vit.embeddings.patch_embeddings.projection.weight" has shape [8, 1, 4, 4], ' +
      "expected [8, 3, 4, 4] from config.json",
  );
});

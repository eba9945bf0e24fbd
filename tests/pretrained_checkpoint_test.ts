/** readPretrained(): Hugging Face checkpoint folders, and the exact message for each kind of bad folder. */
import assert from "node:assert/strict";
import { readSafetensors, type Tensor, writeSafetensors } from "../src/adapters/safetensors.ts";
import { writePretrained } from "../src/models/pretrained/write.ts";
import { checkContext, parseArch } from "../src/models/pretrained/arch.ts";
import { PretrainedError } from "../src/models/pretrained/errors.ts";
import { checkPretrained, readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { checkpointTensors, pretrainedLinears } from "../src/models/pretrained/tensors.ts";
import { randoms } from "./_harness.ts";

const GPT2 = {
  model_type: "gpt2",
  architectures: ["GPT2LMHeadModel"],
  vocab_size: 11,
  n_positions: 6,
  n_embd: 8,
  n_layer: 1,
  n_head: 2,
};

function weights(config: Record<string, unknown>): Record<string, Tensor> {
  const arch = parseArch(config, "config.json");
  return Object.fromEntries(
    checkpointTensors(arch).map((t, i) => [
      t.name,
      { shape: t.shape, data: randoms(t.shape.reduce((a, b) => a * b, 1), i) },
    ]),
  );
}

async function folder(
  config: unknown,
  files: Record<string, Uint8Array | string>,
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_ckpt_" });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  for (const [name, body] of Object.entries(files)) {
    if (typeof body === "string") await Deno.writeTextFile(`${dir}/${name}`, body);
    else await Deno.writeFile(`${dir}/${name}`, body);
  }
  return dir;
}

/** Both the full read and the header-only check fail with `message` (DIR standing for `dir`). */
function rejects(dir: string, message: string): void {
  for (const read of [readPretrained, checkPretrained]) {
    assert.throws(
      () => read(dir),
      (e: Error) => {
        assert.ok(e instanceof PretrainedError, `${read.name}: ${e.name}: ${e.message}`);
        assert.equal(e.message, message.replaceAll("DIR", dir), read.name);
        return true;
      },
    );
  }
}

Deno.test("readPretrained() loads GPT-2 Conv1D weights transposed to [out, in]", async () => {
  const w = weights(GPT2);
  const dir = await folder(GPT2, { "model.safetensors": writeSafetensors(w) });
  const model = await readPretrained(dir);
  assert.equal(model.arch.family, "gpt2");
  const disk = w["transformer.h.0.attn.c_attn.weight"]; // [8, 24] = [in, out]
  const loaded = model.weights.get("transformer.h.0.attn.c_attn.weight")!; // [24, 8]
  assert.equal(loaded[5 * 8 + 3], disk.data[3 * 24 + 5]);
  assert.deepEqual(model.weights.get("transformer.wte.weight"), w["transformer.wte.weight"].data);
  assert.deepEqual(pretrainedLinears(model.arch).map((m) => m.path), [
    "transformer.h.0.attn.c_attn",
    "transformer.h.0.attn.c_proj",
    "transformer.h.0.mlp.c_fc",
    "transformer.h.0.mlp.c_proj",
  ]);
});

Deno.test("readPretrained() accepts GPT-2 names without the transformer. prefix and its mask buffers", async () => {
  const w = weights(GPT2);
  const bare = Object.fromEntries(Object.entries(w).map(([k, v]) => [k.replace(/^transformer\./, ""), v]));
  bare["h.0.attn.bias"] = { shape: [1, 1, 6, 6], data: new Float32Array(36) };
  const dir = await folder(GPT2, { "model.safetensors": writeSafetensors(bare) });
  const model = await readPretrained(dir);
  assert.equal(model.weights.size, Object.keys(w).length);
  assert.ok(model.weights.has("transformer.ln_f.bias"));
});

Deno.test("readPretrained() and checkPretrained() name the file and the problem for a bad config", async () => {
  rejects(
    await folder({ ...GPT2, model_type: "bert" }, {}),
    'DIR/config.json: model_type "bert" is not supported (expected one of gpt2, llama, mistral, qwen2, vit)',
  );
  rejects(
    await folder({ ...GPT2, architectures: ["GPT2ForSequenceClassification"] }, {}),
    'DIR/config.json: architectures ["GPT2ForSequenceClassification"] is not supported for model_type "gpt2" ' +
      '(expected ["GPT2LMHeadModel"])',
  );
  rejects(
    await folder({ ...GPT2, n_head: 3 }, {}),
    "DIR/config.json: n_head 3 does not divide the width 8",
  );
  rejects(
    await folder({ ...GPT2, tie_word_embeddings: false }, {}),
    "DIR/config.json: tie_word_embeddings false is not supported (only true: GPT-2's lm_head is its token embedding)",
  );
  rejects(
    await folder({ ...GPT2, activation_function: "relu" }, {}),
    'DIR/config.json: activation_function "relu" is not supported (only "gelu_new")',
  );
  rejects(
    await folder({
      model_type: "llama",
      hidden_size: 8,
      num_attention_heads: 2,
      rope_scaling: { type: "linear" },
    }, {}),
    'DIR/config.json: rope_scaling {"type":"linear"} is not supported (only null: scaled rotary positions are ' +
      "not implemented)",
  );
  const dir = await folder(GPT2, {});
  await Deno.writeTextFile(`${dir}/config.json`, "{ model_type: gpt2 }");
  assert.throws(
    () => readPretrained(dir),
    (e: Error) => e.message.startsWith(`${dir}/config.json: is not valid JSON (`),
  );
  rejects(`${dir}/nowhere`, "DIR: checkpoint folder not found");
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(GPT2));
  rejects(dir, "DIR: holds neither model.safetensors nor model.safetensors.index.json");
});

Deno.test("readPretrained() and checkPretrained() name the file and the tensor for missing, extra, misshapen, mistyped and truncated weights", async () => {
  const w = weights(GPT2);
  const without = { ...w };
  delete without["transformer.h.0.ln_2.bias"];
  rejects(
    await folder(GPT2, { "model.safetensors": writeSafetensors(without) }),
    'DIR/model.safetensors: missing tensor "transformer.h.0.ln_2.bias"',
  );
  rejects(
    await folder(GPT2, {
      "model.safetensors": writeSafetensors({
        ...w,
        "score.weight": { shape: [1], data: new Float32Array(1) },
      }),
    }),
    'DIR/model.safetensors: unexpected tensor "score.weight" (not a gpt2 weight in this config)',
  );
  rejects(
    await folder(GPT2, {
      "model.safetensors": writeSafetensors({
        ...w,
        "transformer.h.0.attn.c_attn.weight": { shape: [24, 8], data: new Float32Array(192) },
      }),
    }),
    'DIR/model.safetensors: tensor "transformer.h.0.attn.c_attn.weight" has shape [24, 8], expected [8, 24] ' +
      "from config.json",
  );
  const good = writeSafetensors(w);
  rejects(
    await folder(GPT2, { "model.safetensors": good.subarray(0, good.length - 10) }),
    `DIR/model.safetensors: file is truncated: the header places tensor data up to byte ` +
      `${good.length - 8 - headerLength(good)} but ${good.length - 18 - headerLength(good)} bytes follow it`,
  );
  const header = new TextDecoder().decode(good.subarray(8, 8 + headerLength(good)));
  const mistyped = good.slice();
  mistyped.set(new TextEncoder().encode(header.replace('"F32"', '"F64"')), 8);
  const first = Object.keys(w).sort()[0];
  rejects(
    await folder(GPT2, { "model.safetensors": mistyped }),
    `DIR/model.safetensors: tensor "${first}": dtype "F64" is not supported (F32, F16 or BF16)`,
  );
});

Deno.test("readPretrained() and checkPretrained() read shards through the index and name the shard at fault", async () => {
  const w = weights(GPT2);
  const names = Object.keys(w).sort();
  const a = Object.fromEntries(names.slice(0, 5).map((n) => [n, w[n]]));
  const b = Object.fromEntries(names.slice(5).map((n) => [n, w[n]]));
  const index = (map: Record<string, string>) => JSON.stringify({ metadata: {}, weight_map: map });
  const map = Object.fromEntries(
    names.map((n, i) => [n, i < 5 ? "model-1.safetensors" : "model-2.safetensors"]),
  );
  const dir = await folder(GPT2, {
    "model-1.safetensors": writeSafetensors(a),
    "model-2.safetensors": writeSafetensors(b),
    "model.safetensors.index.json": index(map),
  });
  assert.equal((await readPretrained(dir)).weights.size, names.length);
  await Deno.remove(`${dir}/model-2.safetensors`);
  rejects(dir, "DIR/model-2.safetensors: file not found");
  await Deno.writeFile(`${dir}/model-2.safetensors`, writeSafetensors({ ...b, extra: w[names[0]] }));
  rejects(
    dir,
    'DIR/model-2.safetensors: holds tensor "extra" that model.safetensors.index.json places in another file or not at all',
  );
  const partial = { ...map };
  delete partial[names[1]];
  await Deno.writeFile(`${dir}/model-2.safetensors`, writeSafetensors(b));
  await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, index(partial));
  await Deno.writeFile(
    `${dir}/model-1.safetensors`,
    writeSafetensors(Object.fromEntries(Object.entries(a).filter(([n]) => n !== names[1]))),
  );
  rejects(dir, `DIR/model.safetensors.index.json: missing tensor "${names[1]}"`);
});

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
}

Deno.test("writePretrained() writes what readPretrained() reads back, Conv1D weights in [in, out] on disk", async () => {
  const w = weights(GPT2);
  const dir = await folder(GPT2, { "model.safetensors": writeSafetensors(w) });
  const model = readPretrained(dir);
  await writePretrained(`${dir}/copy`, model.config, model.weights);
  const disk = readSafetensors(await Deno.readFile(`${dir}/copy/model.safetensors`)).tensors;
  assert.deepEqual(Object.keys(disk).sort(), Object.keys(w).sort());
  for (const [name, t] of Object.entries(w)) assert.deepEqual(disk[name], t, name);
  assert.deepEqual(readPretrained(`${dir}/copy`).weights, model.weights);
});

Deno.test("parseArch() reads the Llama family's settings and checkContext() refuses Mistral's sliding window", () => {
  const mistral = {
    model_type: "mistral",
    architectures: ["MistralForCausalLM"],
    vocab_size: 300,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    rope_theta: 1e6,
    sliding_window: 8,
  };
  const arch = parseArch(mistral, "m/config.json");
  assert.deepEqual(arch, {
    family: "llama",
    modelType: "mistral",
    vocab: 300,
    positions: 64,
    dim: 32,
    depth: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    inner: 64,
    eps: 1e-6,
    ropeTheta: 1e6,
    tied: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  });
  checkContext(arch, 8, mistral, "m/config.json");
  assert.throws(
    () => checkContext(arch, 9, mistral, "m/config.json"),
    (e: Error) =>
      e.message ===
        "m/config.json: context 9 exceeds sliding_window 8; windowed attention is not implemented",
  );
  const qwen = parseArch({ ...mistral, model_type: "qwen2", architectures: ["Qwen2ForCausalLM"] }, "q");
  assert.equal(qwen.family === "llama" && qwen.qkvBias && !qwen.oBias, true);
  assert.throws(
    () => parseArch({ ...mistral, num_key_value_heads: 3 }, "m/config.json"),
    (e: Error) => e.message === "m/config.json: num_key_value_heads 3 does not divide num_attention_heads 4",
  );
});

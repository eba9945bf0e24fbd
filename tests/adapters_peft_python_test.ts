/**
 * The exported adapter folder, loaded by a PyTorch reimplementation of PEFT's loading rule
 * (tests/fixtures/peft_check.py), gives the outputs of mixtune's merged weights; for a pretrained GPT-2 those
 * are the Conv1D weights of the checkpoint `deno task merge` writes.
 */
import assert from "node:assert/strict";
import { loadAdapterFolder, saveAdapterFolder } from "../src/adapters/adapter_folder.ts";
import { type AdapterWeights, initAdapters } from "../src/adapters/init.ts";
import { mergeLora } from "../src/adapters/merge.ts";
import { type AdapterSpec, placeAdapters } from "../src/adapters/placement.ts";
import { Rng } from "../src/random.ts";
import { readSafetensors, type Tensor, writeSafetensors } from "../src/adapters/safetensors.ts";
import { main as mergeMain } from "../src/cli/merge.ts";
import { linearModules, type PretrainedConfig } from "../src/models/config.ts";
import { stageFolder } from "./fixtures/pretrained_stage.ts";
import { writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./fixtures/peft_check.py", import.meta.url).pathname;
/** Outputs are compared in float64; the merged weight is rounded to float32 once. */
const TOLERANCE = 1e-6;

const modules = linearModules({
  backbone: "vit",
  image: 28,
  patch: 7,
  dim: 24,
  depth: 2,
  heads: 4,
  mlpRatio: 2,
  embedDim: 12,
  classes: 5,
});
// every scale kind mixtune has, at ranks that make alpha / r and alpha / sqrt(r) differ
const adapters: AdapterSpec[] = [
  { targets: "blocks.*.attn.qkv", rank: 4, scale: { alpha: 3, rslora: true }, gated: true },
  { targets: "feature", rank: 3, scale: { alpha: 5 } },
  { targets: "blocks.1.mlp.fc1", rank: 2, scale: 0.7 },
];
const { placements, problems } = placeAdapters(adapters, modules);
const scales = Object.fromEntries(placements.map((p) => [p.path, adapters[p.adapter].scale!]));

async function torchAvailable(): Promise<boolean> {
  try {
    const out = await new Deno.Command(PYTHON, { args: ["-c", "import torch"], stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

Deno.test("PEFT's loading rule on the exported folders gives mixtune's merged outputs", async (t) => {
  if (!(await torchAvailable())) {
    if (Deno.env.get("CI") === "true") throw new Error(`${PYTHON} with torch is required in CI`);
    console.log("skipped: PEFT loading check (needs /usr/bin/python3 with torch)");
    return;
  }
  assert.deepEqual(problems, []);
  const rng = new Rng(11);
  const random = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  const weights: AdapterWeights[] = initAdapters(placements, 5);
  for (const w of weights) for (const br of w.branches) br.b.set(random(br.b.length));
  const head: Tensor = { shape: [5, 12], data: random(60) };
  const dir = await Deno.makeTempDir({ prefix: "mixtune_peft_" });
  try {
    await saveAdapterFolder(`${dir}/adapter`, {
      placements,
      weights,
      scales,
      modulesToSave: ["head"],
      modules: { "head.weight": head },
      gate: { gate: { mapping: { kind: "petalface", threshold: 0.5 } } },
    });
    const expected: Record<string, Tensor> = {};
    placements.forEach((p, i) => {
      const base = random(p.out * p.in);
      expected[`base/${p.path}.weight`] = { shape: [p.out, p.in], data: base };
      expected[`x/${p.path}`] = { shape: [3, p.in], data: random(3 * p.in) };
      // gate 1 is the hq branch alone, gate 0 the lq branch alone
      for (const [tag, g] of [["hq", 1], ["lq", 0]] as const) {
        const merged = mergeLora(base, p, weights[i], p.gated ? g : undefined);
        expected[`${tag}/${p.path}.weight`] = { shape: [p.out, p.in], data: merged };
        expected[`${tag}/head.weight`] = head;
      }
    });
    await Deno.writeFile(`${dir}/expected.safetensors`, writeSafetensors(expected));
    const out = await new Deno.Command(PYTHON, {
      args: [SCRIPT, `${dir}/expected.safetensors`, `${dir}/adapter/hq`, `${dir}/adapter/lq`],
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, stderr);
    const result = JSON.parse(new TextDecoder().decode(out.stdout));
    for (const tag of ["hq", "lq"]) {
      const r = result[tag];
      assert.deepEqual(r.unknownConfigKeys, [], tag);
      assert.deepEqual(r.modules.map((m: { path: string }) => m.path), [
        "blocks.0.attn.qkv",
        "blocks.1.attn.qkv",
        "blocks.1.mlp.fc1",
        "feature",
      ]);
      // PEFT's scaling equals mixtune's multiplier for each scale kind
      for (const m of r.modules) {
        const p = placements.find((q) => q.path === m.path)!;
        assert.ok(Math.abs(m.scaling - p.scale) <= 1e-15 * p.scale, `${m.path}: ${m.scaling} vs ${p.scale}`);
      }
      assert.ok(r.worstRelError <= TOLERANCE, `${tag}: ${r.worstRelError}`);
      assert.deepEqual(r.modulesToSaveMaxAbsDiff, { "head.weight": 0 });
    }
    await t.step("loadAdapterFolder() reads the pair back as gated placements", async () => {
      const back = await loadAdapterFolder(`${dir}/adapter`);
      assert.deepEqual(back.placements.map((p) => [p.path, p.gated, p.rank]), [
        ["blocks.0.attn.qkv", true, 4],
        ["blocks.1.attn.qkv", true, 4],
        ["blocks.1.mlp.fc1", false, 2],
        ["feature", false, 3],
      ]);
      assert.deepEqual(back.gate, { gate: { mapping: { kind: "petalface", threshold: 0.5 } } });
      const qkv = back.weights[1].branches;
      assert.deepEqual(qkv[1].b, weights[1].branches[1].b);
      assert.deepEqual(qkv[0].a, weights[1].branches[0].a);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pretrained GPT-2's adapter loads by PEFT's rule (fan_in_fan_out) and equals deno task merge's checkpoint", async () => {
  if (!(await torchAvailable())) {
    if (Deno.env.get("CI") === "true") throw new Error(`${PYTHON} with torch is required in CI`);
    console.log("skipped: PEFT loading check of a GPT-2 adapter (needs /usr/bin/python3 with torch)");
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "mixtune_peft_gpt2_" });
  try {
    await writeTinyCheckpoint(`${dir}/ckpt`);
    const model: PretrainedConfig = { backbone: "pretrained", pretrained: `${dir}/ckpt`, context: 8 };
    const gpt2 = placeAdapters(
      [{ targets: "transformer.h.*.attn.c_attn", rank: 4, scale: { alpha: 8 } }],
      linearModules(model),
    );
    assert.deepEqual(gpt2.problems, []);
    await stageFolder(dir, model, gpt2.placements);
    const log = console.log;
    console.log = () => {};
    try {
      assert.equal(await mergeMain([dir, "--out", `${dir}/merged`]), 0);
    } finally {
      console.log = log;
    }
    const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter/adapter_config.json`));
    assert.equal(config.base_model_name_or_path, `${dir}/ckpt`);
    assert.equal(config.task_type, "CAUSAL_LM");
    assert.equal(config.fan_in_fan_out, true);
    // the Hugging Face files as they are on disk: Conv1D weights [in, out]
    const base = readSafetensors(await Deno.readFile(`${dir}/ckpt/model.safetensors`)).tensors;
    const merged = readSafetensors(await Deno.readFile(`${dir}/merged/model.safetensors`)).tensors;
    const rng = new Rng(3);
    const expected: Record<string, Tensor> = {};
    for (const p of gpt2.placements) {
      const name = `${p.path}.weight`;
      expected[`base/${name}`] = base[name];
      expected[`adapter/${name}`] = merged[name];
      expected[`x/${p.path}`] = {
        shape: [3, p.in],
        data: Float32Array.from({ length: 3 * p.in }, () => rng.normal()),
      };
    }
    await Deno.writeFile(`${dir}/expected.safetensors`, writeSafetensors(expected));
    const out = await new Deno.Command(PYTHON, {
      args: [SCRIPT, `${dir}/expected.safetensors`, `${dir}/adapter`],
    })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(new TextDecoder().decode(out.stdout)).adapter;
    assert.deepEqual(r.unknownConfigKeys, []);
    assert.deepEqual(r.keys, [
      "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
      "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
    ]);
    assert.equal(r.modules[0].scaling, 2);
    assert.ok(r.worstRelError <= TOLERANCE, `worst relative error ${r.worstRelError}`);
    assert.ok(r.modules[0].mergeRelError <= TOLERANCE, `merge ${r.modules[0].mergeRelError}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

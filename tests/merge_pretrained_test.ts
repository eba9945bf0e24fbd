/**
 * `deno task merge` on a stage of a pretrained model writes the Hugging Face layout (the checkpoint's own
 * config.json and tensor names, GPT-2's Conv1D weights as [in, out]) that pretrained() reads back with the
 * logits of base + LoRA.
 */
import assert from "node:assert/strict";
import { type AdapterSpec, placeAdapters } from "../src/adapters/placement.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { main } from "../src/cli/merge.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { linearModules, type PretrainedConfig, pretrainedLm } from "../src/models/config.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { buildPretrained } from "../src/models/pretrained/graph.ts";
import { TINY_GPT2, TINY_LLAMA, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { type Placements, stageFolder } from "./fixtures/pretrained_stage.ts";

/** Merged weights are rounded to float32 once; the float64 forward passes may differ by that much. */
const TOLERANCE = 1e-6;
const B = 2, T = 6;

function logits(
  model: PretrainedConfig,
  weights: Map<string, Float32Array>,
  lora?: Placements,
): Float64Array {
  const g = buildPretrained(pretrainedLm(model), { batch: B, context: T, domains: 1, lora });
  const ids = Float32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % 256);
  const feeds = new Map<string, Float32Array>([
    ...weights,
    ["x", ids],
    ["labels", ids.map((v) => (v + 1) % 256)],
    ["weights", new Float32Array(B).fill(1)],
    ["domains", new Float32Array(B).fill(1)],
  ]);
  return evaluate([g.logits], feeds).get(g.logits)!;
}

function relError(a: Float64Array, b: Float64Array): number {
  let num = 0, den = 0;
  a.forEach((v, i) => {
    num = Math.max(num, Math.abs(v - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  });
  return num / den;
}

const cases: [string, Record<string, unknown>, AdapterSpec[], string][] = [
  ["GPT-2", TINY_GPT2, [
    { targets: "transformer.h.*.attn.c_attn", rank: 2, scale: 2 },
    { targets: "transformer.h.0.mlp.c_fc", rank: 3, scale: 0.5 },
  ], "transformer.h.0.attn.c_attn.weight"],
  ["Llama", TINY_LLAMA, [
    { targets: "model.layers.*.self_attn.{q,v}_proj", rank: 2, scale: 2 },
    { targets: "lm_head", rank: 2, scale: 1 },
  ], "model.layers.0.self_attn.q_proj.weight"],
];

for (const [name, config, adapters, adapted] of cases) {
  Deno.test(`merge of a pretrained ${name} stage writes the Hugging Face layout that pretrained() reads back`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "mixtune_merge_pre_" });
    try {
      await writeTinyCheckpoint(`${dir}/ckpt`, config);
      const model: PretrainedConfig = { backbone: "pretrained", pretrained: `${dir}/ckpt`, context: T };
      const { placements, problems } = placeAdapters(adapters, linearModules(model));
      assert.deepEqual(problems, []);
      const weights = await stageFolder(dir, model, placements);
      assert.equal(await main([dir, "--out", `${dir}/merged`]), 0);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/merged/config.json`)), {
        ...config,
        torch_dtype: "float32",
      });
      // the same tensor names and on-disk shapes as the checkpoint; weights without LoRA bit for bit
      const before = readSafetensors(await Deno.readFile(`${dir}/ckpt/model.safetensors`)).tensors;
      const after = readSafetensors(await Deno.readFile(`${dir}/merged/model.safetensors`)).tensors;
      assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
      const merged = new Set(placements.map((p) => `${p.path}.weight`));
      for (const [k, t] of Object.entries(before)) {
        assert.deepEqual(after[k].shape, t.shape, k);
        if (!merged.has(k)) assert.deepEqual(after[k].data, t.data, k);
      }
      assert.notDeepEqual(after[adapted].data, before[adapted].data);
      const back = readPretrained(`${dir}/merged`).weights;
      const folded = logits(model, back);
      const unmerged = logits(model, weights, placements);
      const err = relError(folded, unmerged);
      assert.ok(err <= TOLERANCE, `merged vs base + LoRA: relative error ${err}`);
      const base = relError(logits(model, readPretrained(`${dir}/ckpt`).weights), unmerged);
      assert.ok(
        base > 1e-2,
        `the adapters change the logits (${base}), so the comparison above is not vacuous`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

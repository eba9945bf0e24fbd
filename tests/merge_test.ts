/** `deno task merge`: a stage folder with LoRA becomes one checkpoint whose outputs equal the adapted model's. */
import assert from "node:assert/strict";
import { saveAdapterFolder } from "../src/adapters/adapter_folder.ts";
import { initAdapters } from "../src/adapters/init.ts";
import { type AdapterSpec, placeAdapters } from "../src/adapters/placement.ts";
import { Rng } from "../src/random.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { main } from "../src/cli/merge.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { linearModules, type LmConfig } from "../src/models/config.ts";
import { buildModel, loraNames } from "../src/models/graph.ts";
import { baseParams, initParams } from "../src/models/params.ts";
import { weightsFile } from "../src/run/checkpoint.ts";

/** Merged weights are rounded to float32 once; the float64 forward passes may differ by that much. */
const TOLERANCE = 1e-7;

const model: LmConfig = { backbone: "lm", context: 6, dim: 8, depth: 1, heads: 2, mlpRatio: 2 };
const adapters: AdapterSpec[] = [
  { targets: "blocks.0.attn.qkv", rank: 2, scale: { alpha: 3 }, gated: true },
  { targets: "lm_head", rank: 3, scale: 0.5 },
];
const { placements } = placeAdapters(adapters, linearModules(model));
const B = 2;

/** A stage folder as a run writes it: spec.json, weights.safetensors (base + LoRA) and adapter/. */
async function stageFolder(dir: string): Promise<Map<string, Float32Array>> {
  const rng = new Rng(5);
  const weights = initParams(model, 3);
  const lora = initAdapters(placements, 4);
  for (const w of lora) for (const br of w.branches) br.b.forEach((_, i) => (br.b[i] = rng.normal()));
  placements.forEach((p, i) => {
    (p.gated ? (["hq", "lq"] as const) : [undefined]).forEach((b, j) => {
      const n = loraNames(p.path, b);
      weights.set(n.A, lora[i].branches[j].a);
      weights.set(n.B, lora[i].branches[j].b);
    });
  });
  const shapes = new Map(baseParams(model).map((p) => [p.name, p.shape]));
  for (const p of placements) {
    for (const b of p.gated ? (["hq", "lq"] as const) : [undefined]) {
      shapes.set(loraNames(p.path, b).A, [p.rank, p.in]);
      shapes.set(loraNames(p.path, b).B, [p.out, p.rank]);
    }
  }
  await Deno.writeTextFile(
    `${dir}/spec.json`,
    JSON.stringify({ pipeline: "t", stage: "ft", spec: { kind: "train" }, model }),
  );
  await Deno.writeFile(`${dir}/weights.safetensors`, weightsFile(weights, shapes));
  await saveAdapterFolder(`${dir}/adapter`, {
    placements,
    weights: lora,
    scales: { "blocks.0.attn.qkv": { alpha: 3 }, lm_head: 0.5 },
    gate: { gate: null },
  });
  return weights;
}

function perExample(weights: Map<string, Float32Array>, withLora: boolean, gate: number): Float64Array {
  const g = buildModel(model, {
    batch: B,
    domains: 1,
    loss: { kind: "lm" },
    lora: withLora ? placements : undefined,
  });
  const bytes = Float32Array.from({ length: B * 6 }, (_, i) => (i * 37 + 11) % 256);
  const feeds = new Map<string, Float32Array>([
    ...weights,
    ["x", bytes],
    ["labels", bytes.map((v) => (v + 1) % 256)],
    ["weights", new Float32Array(B).fill(1)],
    ["domains", new Float32Array(B).fill(1)],
    ["gate", new Float32Array(B).fill(gate)],
  ]);
  return evaluate([g.perExample], feeds).get(g.perExample)!;
}

function relError(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  a.forEach((v, i) => {
    num = Math.max(num, Math.abs(v - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  });
  return num / den;
}

Deno.test("merge writes a Hugging Face layout checkpoint whose outputs equal base + LoRA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_merge_" });
  try {
    const weights = await stageFolder(dir);
    assert.equal(await main([dir, "--out", `${dir}/merged`, "--gate", "0.25"]), 0);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/merged/config.json`));
    assert.equal(config.model_type, "mixtune");
    assert.deepEqual(config.architectures, ["MixtuneByteLm"]);
    assert.deepEqual(config.mixtune, model);
    const { tensors, metadata } = readSafetensors(await Deno.readFile(`${dir}/merged/model.safetensors`));
    assert.deepEqual(metadata, { format: "pt" });
    assert.deepEqual(Object.keys(tensors).sort(), baseParams(model).map((p) => p.name).sort());
    const merged = new Map(Object.entries(tensors).map(([k, t]) => [k, t.data]));
    const adapted = perExample(weights, true, 0.25);
    const folded = perExample(merged, false, 0);
    const base = perExample(weights, false, 0);
    const err = relError(folded, adapted);
    assert.ok(err <= TOLERANCE, `merged vs adapted relative error ${err}`);
    // the adapters change the outputs, so the comparison above is not vacuous
    assert.ok(relError(base, adapted) > 1e-3, `base vs adapted ${relError(base, adapted)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("merge says what is missing: a gate for a gated pair, a stage folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_merge_" });
  const errors: string[] = [];
  const error = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    await stageFolder(dir);
    assert.equal(await main([dir, "--out", `${dir}/merged`]), 2);
    assert.equal(await main([`${dir}/none`, "--out", `${dir}/merged`]), 2);
    assert.equal(await main([dir, "--out", `${dir}/merged`, "--gate", "2"]), 2);
    assert.deepEqual(errors, [
      `${dir}/adapter is a gated pair (blocks.0.attn.qkv): merging needs a fixed gate g in [0, 1] (--gate)`,
      `${dir}/none/spec.json: no such file`,
      "--gate: expected a number in [0, 1], found 2",
    ]);
    assert.equal(await Deno.stat(`${dir}/merged`).then(() => true, () => false), false);
  } finally {
    console.error = error;
    await Deno.remove(dir, { recursive: true });
  }
});

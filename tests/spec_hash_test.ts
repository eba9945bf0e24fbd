import assert from "node:assert/strict";
import { canonicalJson, hashSpec, sha256Hex, stageHash, stageOrder } from "../src/spec/hash.ts";
import { PipelineError } from "../src/spec/problem.ts";
import type { PipelineSpec } from "../src/spec/types.ts";
import { validatePipeline } from "../src/spec/validate.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** Declared out of run order on purpose: `ev` and `ft` come before the stage they start from. */
function spec(): Loose {
  return {
    name: "h",
    seed: 7,
    domains: {
      hr: { source: { kind: "mnist", digits: [0, 1, 2] }, transforms: [{ kind: "split", validation: 0.2 }] },
      lr: { source: { kind: "mnist", digits: [3, 4] }, transforms: [{ kind: "degrade", downsample: 2 }] },
      spare: { source: { kind: "mnist" } },
    },
    model: {
      backbone: "vit",
      image: 8,
      patch: 4,
      dim: 8,
      depth: 1,
      heads: 2,
      mlpRatio: 2,
      embedDim: 4,
      classes: 5,
    },
    stages: {
      ev: {
        kind: "evaluate",
        from: "ft",
        tasks: ["recognition"],
        domains: ["hr", "lr"],
        recognition: [{ name: "lr", gallery: "hr", probes: ["lr"] }],
      },
      ft: {
        kind: "train",
        from: "pre",
        mix: { domains: ["lr"], strategy: "temperature" },
        adapters: [{ targets: "blocks.*.attn.qkv", rank: 2 }],
        loss: { kind: "arcface", scale: 8, margin: 0.3 },
        optimizer: { kind: "adamw", lr: 1e-3 },
        steps: 5,
        batch: 4,
      },
      pre: {
        kind: "train",
        mix: { domains: ["hr"], strategy: "temperature", temperature: 2 },
        loss: { kind: "softmax" },
        optimizer: { kind: "adamw", lr: 1e-3 },
        steps: 5,
        batch: 4,
      },
      out: { kind: "export", from: "ft", format: "onnx" },
    },
  };
}

/** The same data with the keys of every object in reverse order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}

async function stageHashes(s: PipelineSpec, code = "v1"): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(s.stages)) out[name] = await stageHash(s, name, code);
  return out;
}

/** Names of the stages whose hash differs between two specs. */
async function changed(a: PipelineSpec, b: PipelineSpec): Promise<string[]> {
  const [ha, hb] = [await stageHashes(a), await stageHashes(b)];
  return Object.keys(ha).filter((name) => ha[name] !== hb[name]).sort();
}

Deno.test("canonicalJson() sorts keys at every level and drops undefined", () => {
  assert.equal(
    canonicalJson({ b: 1, a: [true, { d: null, c: "x" }], u: undefined, e: 1e-8 }),
    '{"a":[true,{"c":"x","d":null}],"b":1,"e":1e-8}',
  );
  assert.throws(() => canonicalJson({ x: NaN }), TypeError);
});

Deno.test("sha256Hex() matches the FIPS 180-2 test vector", async () => {
  assert.equal(await sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

Deno.test("hashSpec() ignores key order and spelled-out defaults", async () => {
  const plain = spec();
  const hash = await hashSpec(plain);
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(await hashSpec(reverseKeys(plain) as PipelineSpec), hash);
  assert.equal(await hashSpec(validatePipeline(plain)), hash);
  const other = spec();
  other.stages.pre.steps = 6;
  assert.notEqual(await hashSpec(other), hash);
});

Deno.test("stageOrder() runs each stage after the one it starts from", () => {
  assert.deepEqual(stageOrder(spec()), [
    { name: "pre", kind: "train", dependsOn: [] },
    { name: "ft", kind: "train", dependsOn: ["pre"] },
    { name: "ev", kind: "evaluate", dependsOn: ["ft"] },
    { name: "out", kind: "export", dependsOn: ["ft"] },
  ]);
  const cyclic = spec();
  cyclic.stages.pre.from = "ft";
  assert.throws(() => stageOrder(cyclic), PipelineError);
});

Deno.test("stageHash() is stable and does not depend on key order", async () => {
  const a = await stageHashes(spec());
  assert.deepEqual(await stageHashes(reverseKeys(spec()) as PipelineSpec), a);
  assert.equal(new Set(Object.values(a)).size, 4);
});

Deno.test("stageHash() changes for a changed stage and the stages downstream of it only", async () => {
  const ft = spec();
  ft.stages.ft.adapters[0].rank = 3;
  assert.deepEqual(await changed(spec(), ft), ["ev", "ft", "out"]);

  const pre = spec();
  pre.stages.pre.optimizer.lr = 2e-3;
  assert.deepEqual(await changed(spec(), pre), ["ev", "ft", "out", "pre"]);

  const ev = spec();
  ev.stages.ev.tasks = ["validation_loss"];
  assert.deepEqual(await changed(spec(), ev), ["ev"]);

  // `lr` is read by ft (its mix) and ev; pre reads only `hr`, and nobody reads `spare`
  const lr = spec();
  lr.domains.lr.transforms[0].downsample = 4;
  assert.deepEqual(await changed(spec(), lr), ["ev", "ft", "out"]);
  const spare = spec();
  spare.domains.spare.source.digits = [9];
  assert.deepEqual(await changed(spec(), spare), []);

  const renamed = spec();
  renamed.name = "other";
  assert.deepEqual(await changed(spec(), renamed), []);

  const seed = spec();
  seed.seed = 8;
  assert.deepEqual(await changed(spec(), seed), ["ev", "ft", "out", "pre"]);
});

Deno.test("stageHash() changes with the code version and rejects unknown stages", async () => {
  const s = spec();
  assert.notEqual(await stageHash(s, "pre", "v1"), await stageHash(s, "pre", "v2"));
  await assert.rejects(() => stageHash(s, "nope", "v1"), PipelineError);
});

/** LM pipelines over a tokenizer's ids: domains tokenized and packed, pre-tokenized JSONL ids, model vocab. */
import assert from "node:assert/strict";
import { main } from "../src/cli/main.ts";
import { packDocuments } from "../src/data/packing.ts";
import { tokenizerFromJson } from "../src/data/tokenizer.ts";
import { readWeights } from "../src/run/checkpoint.ts";
import { loadDomain } from "../src/compile/domains.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { stageHash } from "../src/spec/hash.ts";
import { checkPipeline, validatePipeline } from "../src/spec/validate.ts";
import type { PipelineSpec } from "../src/spec/types.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, stagePath, tempOut } from "./fixtures/helpers.ts";
import { byteLevelBpe } from "./fixtures/tokenizers.ts";

const MERGES = ["h e", "l l", "he ll", "Ġ w", "o r", "Ġw or", "l d"];
/** 256 bytes + 7 merges + <|endoftext|>. */
const VOCAB = 264;
const EOS = 263;
const TEXTS = ["hello world", "the world is wide and full of words", "hell or high water"];

/** A model folder with tokenizer.json, and a JSONL file: three texts and one pre-tokenized document. */
async function fixture(dir: string): Promise<{ spec: PipelineSpec; ids: number[][] }> {
  const json = byteLevelBpe(MERGES);
  await Deno.mkdir(`${dir}/model`);
  await Deno.writeTextFile(`${dir}/model/tokenizer.json`, JSON.stringify(json));
  const pre = [258, 78, 261, 262, 0];
  const lines = [...TEXTS.map((text) => ({ text, domain: "en" })), { ids: pre, domain: "en" }];
  const repeated = Array.from({ length: 6 }, () => lines).flat();
  await Deno.writeTextFile(`${dir}/docs.jsonl`, repeated.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const t = tokenizerFromJson(json);
  const ids = repeated.map((l) => "ids" in l ? l.ids! : t.encode(l.text!));
  const spec = validatePipeline({
    name: "tok",
    seed: 1,
    domains: {
      en: {
        source: { kind: "jsonl", path: `${dir}/docs.jsonl`, domain: "en", tokenizer: `${dir}/model` },
        transforms: [{ kind: "split", validation: 0.25 }],
      },
    },
    // 8 ids a window; embed and lm_head are [264, 16] and [16 -> 264]
    model: { backbone: "lm", context: 8, dim: 16, depth: 1, heads: 2, mlpRatio: 2, vocab: VOCAB },
    stages: {
      lm: {
        kind: "train",
        mix: { domains: ["en"], strategy: "temperature" },
        loss: { kind: "lm" },
        optimizer: { kind: "adamw", lr: 1e-2 },
        steps: 3,
        batch: 4,
        logEvery: 1,
      },
    },
  });
  return { spec, ids };
}

Deno.test("a tokenized JSONL domain is its documents' ids (text encoded, ids kept) with EOS after each", async () => {
  const dir = await tempOut();
  try {
    const { spec, ids } = await fixture(dir);
    const d = await loadDomain("en", spec.domains.en, spec);
    assert.equal(d.kind, "text");
    if (d.kind !== "text") return;
    const packed = packDocuments(ids, EOS, VOCAB).ids;
    const cut = packed.length - Math.round(0.25 * packed.length);
    assert.deepEqual(d.train, packed.subarray(0, cut));
    assert.deepEqual(d.validation, packed.subarray(cut));
    // "hello world" -> hell o Ġwor ld, then EOS
    assert.deepEqual([...d.train.subarray(0, 5)], [258, 78, 261, 262, EOS]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validation wants one tokenizer per pipeline and model.vocab with it", async () => {
  const dir = await tempOut();
  try {
    const { spec } = await fixture(dir);
    const loose = structuredClone(spec) as unknown as Record<string, Record<string, Record<string, unknown>>>;
    delete loose.model.vocab;
    loose.domains.de = { source: { kind: "udhr", language: "eng", tokenizer: "elsewhere" } };
    assert.deepEqual(checkPipeline(loose), [
      {
        path: "domains.de.source.tokenizer",
        message: `expected the tokenizer of domains.en.source.tokenizer ("${dir}/model"), found "elsewhere"`,
      },
      {
        path: "model.vocab",
        message:
          `expected the vocabulary size of the tokenizer "${dir}/model" (domains.en.source.tokenizer), ` +
          "found nothing",
      },
    ]);
    const bytes = structuredClone(spec) as unknown as Record<string, Record<string, Record<string, unknown>>>;
    delete (bytes.domains.en.source as Record<string, unknown>).tokenizer;
    assert.deepEqual(checkPipeline(bytes), [
      { path: "model.vocab", message: "expected 256 (bytes: no text domain has a tokenizer), found 264" },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an LM trains on tokenizer ids with the tokenizer's vocabulary; a wrong vocab exits 2", async () => {
  if (!(await testDevice())) return;
  const dir = await tempOut();
  const { error } = console;
  const errors: string[] = [];
  try {
    const { spec } = await fixture(dir);
    const out = `${dir}/runs`;
    await runPipeline(spec, { out, log: captureLog() });
    const stage = await stagePath(out, spec, "lm");
    const { shapes } = readWeights(await Deno.readFile(`${stage}/weights.safetensors`));
    assert.deepEqual(shapes.get("embed"), [VOCAB, 16]);
    assert.deepEqual(shapes.get("lm_head.weight"), [VOCAB, 16]);
    const summary = JSON.parse(await Deno.readTextFile(`${stage}/summary.json`));
    // an untrained model over 264 ids starts near ln 264 = 5.58; three steps keep it finite and near that
    assert.ok(
      Number.isFinite(summary.metrics.loss) && summary.metrics.loss < 7,
      `loss ${summary.metrics.loss}`,
    );
    const file = `${dir}/wrong.json`;
    await Deno.writeTextFile(file, JSON.stringify({ ...spec, model: { ...spec.model, vocab: 300 } }));
    console.error = (m: string) => errors.push(m);
    const code = await main([file, "--out", out]);
    assert.equal(code, 2, errors.join("\n"));
    assert.deepEqual(errors, [
      `${file} domains.en.source.tokenizer: ${dir}/model/tokenizer.json has 264 ids but model.vocab is 300`,
    ]);
  } finally {
    console.error = error;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the stage hash follows the tokenizer's files", async () => {
  const dir = await tempOut();
  try {
    const { spec } = await fixture(dir);
    const before = await stageHash(spec, "lm", "test");
    await Deno.writeTextFile(
      `${dir}/model/tokenizer_config.json`,
      JSON.stringify({ eos_token: "<|endoftext|>" }),
    );
    assert.notEqual(await stageHash(spec, "lm", "test"), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

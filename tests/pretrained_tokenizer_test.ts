/**
 * A pretrained folder's tokenizer and a PEFT adapter at generation time, and the tokenizer checked against
 * the checkpoint's vocabulary before a pipeline runs.
 */
import assert from "node:assert/strict";
import { loadAdapterFolder } from "../src/adapters/adapter_folder.ts";
import { placeAdapters } from "../src/adapters/placement.ts";
import { main as generateMain } from "../src/cli/generate.ts";
import { main as mergeMain } from "../src/cli/merge.ts";
import { tokenizerFromJson } from "../src/data/tokenizer.ts";
import { adamw, dictionary, lmLoss, lora, pipeline, pretrained, split, temperature, train } from "../mod.ts";
import { linearModules, type PretrainedConfig } from "../src/models/config.ts";
import { applyAdapter } from "../src/models/pretrained/apply_adapter.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { tokenizerCodec } from "../src/models/pretrained/tokens.ts";
import { checkDomainTokenizers } from "../src/compile/domains.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { captureLog, removeOut, tempOut } from "./fixtures/helpers.ts";
import { stageFolder } from "./fixtures/pretrained_stage.ts";
import { TINY_GPT2, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { byteLevelBpe } from "./fixtures/tokenizers.ts";
import { testDevice } from "./_harness.ts";

// 256 byte ids, one merge ("h e" -> 256), then <|endoftext|> = 257
const TOKENIZER = byteLevelBpe(["h e"]);

async function checkpointWithTokenizer(dir: string, vocab: number): Promise<void> {
  await writeTinyCheckpoint(dir, { ...TINY_GPT2, vocab_size: vocab });
  await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(TOKENIZER));
}

Deno.test("tokenizerCodec streams whole characters: byte-level pieces of é wait for each other", () => {
  const t = tokenizerFromJson(TOKENIZER);
  const codec = tokenizerCodec(t);
  const ids = codec.encode("heé");
  // GPT-2's byte order: 0x21-0x7e are ids 0-93, 0xa1-0xac 94-105, 0xae-0xff 106-187
  assert.deepEqual(ids, [256, 106 + 0xc3 - 0xae, 94 + 0xa9 - 0xa1]);
  const d = codec.decoder();
  assert.deepEqual([...ids.map((id) => d.push(id)), d.end()], ["he", "", "é", ""]);
});

function spec(dir: string, tokenizer: string, adapters: ReturnType<typeof lora>[] = []) {
  return pipeline("tok")
    .seed(1)
    .domain("vi", { ...dictionary("vi"), tokenizer }, split(0.1))
    .model(pretrained(dir, { context: 8 }))
    .stage(
      "tune",
      train({
        mix: temperature(["vi"]),
        adapters,
        loss: lmLoss(),
        optimizer: adamw({ lr: 1e-3 }),
        steps: 2,
        batch: 2,
      }),
    )
    .build();
}

Deno.test("a pretrained model's text domains take its tokenizer without model.vocab, up to its vocab_size", async () => {
  const out = await tempOut();
  try {
    await checkpointWithTokenizer(`${out}/fits`, 258);
    checkDomainTokenizers(spec(`${out}/fits`, `${out}/fits`));
    await checkpointWithTokenizer(`${out}/short`, 256);
    assert.throws(
      () => checkDomainTokenizers(spec(`${out}/short`, `${out}/short`)),
      (e: Error) =>
        e.message ===
          `domains.vi.source.tokenizer: ${out}/short/tokenizer.json has 258 ids but ${out}/short/config.json has vocab_size 256`,
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("generate --adapter merges a PEFT adapter as deno task merge does (which copies the tokenizer), and decodes with the folder's tokenizer", async () => {
  const out = await tempOut();
  const errors: string[] = [];
  const { error, log } = console;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  console.log = () => {};
  try {
    await checkpointWithTokenizer(`${out}/ckpt`, 258);
    const model: PretrainedConfig = { backbone: "pretrained", pretrained: `${out}/ckpt`, context: 8 };
    const { placements } = placeAdapters(
      [{ targets: "transformer.h.*.attn.c_attn", rank: 2, scale: 4 }, {
        targets: "transformer.h.0.mlp.c_fc",
        rank: 2,
      }],
      linearModules(model),
    );
    await Deno.mkdir(`${out}/stage`);
    await stageFolder(`${out}/stage`, model, placements);
    assert.equal(await mergeMain([`${out}/stage`, "--out", `${out}/merged`]), 0);
    // the checkpoint's tokenizer travels with the merged model
    assert.equal(
      await Deno.readTextFile(`${out}/merged/tokenizer.json`),
      await Deno.readTextFile(`${out}/ckpt/tokenizer.json`),
    );
    // the weights generation uses equal the merged checkpoint's, bit for bit
    const applied = applyAdapter(
      readPretrained(`${out}/ckpt`),
      await loadAdapterFolder(`${out}/stage/adapter`),
      "a",
    );
    const merged = readPretrained(`${out}/merged`).weights;
    for (const [name, w] of merged) assert.deepEqual(applied.weights.get(name), w, name);
    assert.notDeepEqual(
      applied.weights.get("transformer.h.0.attn.c_attn.weight"),
      readPretrained(`${out}/ckpt`).weights.get("transformer.h.0.attn.c_attn.weight"),
    );
    const device = await testDevice();
    if (device) {
      const run = async (args: string[]): Promise<string> => {
        let text = "";
        assert.equal(
          await generateMain([...args, "--prompt", "hehe", "--max-new", "6"], (t) => (text += t)),
          0,
        );
        return text;
      };
      const adapted = await run([`${out}/ckpt`, "--adapter", `${out}/stage/adapter`]);
      assert.equal(adapted, await run([`${out}/merged`]));
      assert.ok(adapted.startsWith("hehe") && adapted.endsWith("\n"), JSON.stringify(adapted));
    }
    assert.equal(await generateMain([`${out}/ckpt`, "--adapter", `${out}/none`, "--prompt", "a"]), 2);
    assert.equal(errors.pop(), `${out}/none/adapter_config.json: no such file`);
    await checkpointWithTokenizer(`${out}/narrow`, 258);
    await writeTinyCheckpoint(`${out}/narrow`, { ...TINY_GPT2, vocab_size: 258, n_embd: 8 });
    assert.equal(
      await generateMain([`${out}/narrow`, "--adapter", `${out}/stage/adapter`, "--prompt", "a"]),
      2,
    );
    assert.equal(
      errors.pop(),
      '"transformer.h.0.attn.c_attn": base weight has 192 values, expected [48, 16] = 768',
    );
  } finally {
    console.error = error;
    console.log = log;
    await removeOut(out);
  }
});

Deno.test("a LoRA stage on a pretrained GPT-2 with its tokenizer trains and exports a GPT-2 PEFT adapter", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    await checkpointWithTokenizer(`${out}/ckpt`, 258);
    const s = spec(`${out}/ckpt`, `${out}/ckpt`, [lora("transformer.h.*.attn.c_attn", { rank: 2 })]);
    const result = await runPipeline(s, { out, log: captureLog() });
    const dir = `${result.root}/${result.stages[0].dir}`;
    const lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).split("\n").filter((l) => l);
    const losses = lines.map((l) => JSON.parse(l)).filter((l) => l.type === "train").map((l) => l.loss);
    assert.ok(losses.length > 0 && losses.every(Number.isFinite), `losses ${losses}`);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter/adapter_config.json`));
    assert.equal(config.base_model_name_or_path, `${out}/ckpt`);
    assert.equal(config.task_type, "CAUSAL_LM");
    assert.equal(config.fan_in_fan_out, true);
  } finally {
    await removeOut(out);
  }
});

/** Token picking, generation against a float64 greedy decode, and the generate command's exits. */
import assert from "node:assert/strict";
import { Rng } from "../src/random.ts";
import { evaluate } from "../src/graph/cpu.ts";
import type { Node } from "../src/graph/node.ts";
import { main } from "../src/cli/generate.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { generate } from "../src/compile/generate.ts";
import { buildPretrained } from "../src/models/pretrained/graph.ts";
import type { PretrainedLmArch } from "../src/models/pretrained/arch.ts";
import { pickToken } from "../src/models/pretrained/sampling.ts";
import { byteCodec } from "../src/models/pretrained/tokens.ts";
import { removeOut, tempOut } from "./fixtures/helpers.ts";
import { TINY_GPT2, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { testDevice } from "./_harness.ts";

const TINY_LLAMA = {
  model_type: "llama",
  vocab_size: 260,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 12,
  tie_word_embeddings: true,
};

Deno.test("pickToken() takes the lowest id of tied maxima greedily and samples only inside the top-p set", () => {
  const rng = new Rng(1);
  assert.equal(pickToken([1, 3, 3, 2], { kind: "greedy" }, rng), 1);
  const logits = [Math.log(0.6), Math.log(0.3), Math.log(0.1)];
  const seen = new Set<number>();
  for (let i = 0; i < 300; i++) {
    seen.add(pickToken(logits, { kind: "sample", temperature: 1, topP: 0.5 }, rng));
  }
  assert.deepEqual([...seen], [0]);
  seen.clear();
  for (let i = 0; i < 300; i++) {
    seen.add(pickToken(logits, { kind: "sample", temperature: 1, topP: 0.85 }, rng));
  }
  assert.deepEqual([...seen].sort(), [0, 1]);
  seen.clear();
  for (let i = 0; i < 300; i++) seen.add(pickToken(logits, { kind: "sample", temperature: 1, topP: 1 }, rng));
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
  assert.throws(
    () => pickToken([0, NaN], { kind: "greedy" }, rng),
    (e: Error) =>
      e instanceof RangeError && e.message === "logit 1 is NaN: the model produced no distribution",
  );
});

Deno.test("byteCodec decodes a multi-byte character once its last byte arrives", () => {
  const ids = byteCodec.encode("aé");
  assert.deepEqual(ids, [0x61, 0xc3, 0xa9]);
  const d = byteCodec.decoder();
  assert.deepEqual(ids.map((id) => d.push(id)), ["a", "", "é"]);
});

Deno.test("generate() greedy matches a float64 greedy decode, past the context window too", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    for (const config of [TINY_GPT2, TINY_LLAMA]) {
      await writeTinyCheckpoint(`${out}/m`, config, 5);
      const model = readPretrained(`${out}/m`);
      const prompt = byteCodec.encode("hello");
      const maxNew = 10; // 5 + 10 ids: past Llama's 12 positions, so the window slides
      const got: number[] = [];
      for await (
        const id of generate(device, model, prompt, { maxNew, sampling: { kind: "greedy" }, seed: 0 })
      ) {
        got.push(id);
      }
      const arch = model.arch as PretrainedLmArch;
      const T = arch.positions;
      const ids = [...prompt];
      const want: number[] = [];
      for (let k = 0; k < maxNew; k++) {
        const window = ids.slice(-T);
        const g = buildPretrained(arch, { batch: 1, context: window.length, domains: 1 });
        const feeds = new Map<Node | string, Float32Array>([[g.inputs.x, Float32Array.from(window)]]);
        for (const [name, node] of g.params) feeds.set(node, model.weights.get(name)!);
        const logits = evaluate([g.logits], feeds).get(g.logits)!;
        const V = arch.vocab;
        const next = pickToken(logits.subarray((window.length - 1) * V, window.length * V), {
          kind: "greedy",
        }, new Rng(0));
        want.push(next);
        ids.push(next);
      }
      assert.deepEqual(got, want, String(config.model_type));
    }
  } finally {
    await removeOut(out);
  }
});

Deno.test("the generate command streams the prompt and new text, and exits 2 with one message for bad input", async () => {
  const device = await testDevice();
  const out = await tempOut();
  const errors: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => errors.push(a.join(" "));
  try {
    await writeTinyCheckpoint(`${out}/m`);
    if (device) {
      let text = "";
      const code = await main([
        `${out}/m`,
        "--prompt",
        "ab",
        "--max-new",
        "4",
        "--seed",
        "2",
        "--temperature",
        "0.7",
      ], (t) => {
        text += t;
      });
      assert.equal(code, 0);
      assert.ok(text.startsWith("ab") && text.endsWith("\n"), JSON.stringify(text));
    }
    assert.equal(await main([`${out}/none`, "--prompt", "ab"]), 2);
    assert.equal(errors.pop(), `${out}/none: checkpoint folder not found`);
    assert.equal(await main([`${out}/m`, "--prompt", "ab", "--top-p", "0"]), 2);
    assert.ok(errors.pop()!.startsWith("--top-p: expected a number in (0, 1], found 0\nusage: "));
    await writeTinyCheckpoint(`${out}/small`, { ...TINY_GPT2, vocab_size: 100 });
    assert.equal(await main([`${out}/small`, "--prompt", "ab"]), 2);
    assert.equal(
      errors.pop(),
      `${out}/small/config.json: vocab_size 100 is below 256 and there is no tokenizer.json; prompts are byte ids 0-255`,
    );
  } finally {
    console.error = error;
    await removeOut(out);
  }
});

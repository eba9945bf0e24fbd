/** The faster BPE lookups give the library's own ids (GPT-2 and Qwen3), and are in place on both. */
import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { fasterBpeLookups } from "../src/data/_bpe_lookups.ts";
import { loadDictionary } from "../src/data/sources/dictionary.ts";
import { loadUdhr } from "../src/data/sources/udhr.ts";
import { gpt2TokenizerJson, qwen3Dir } from "./fixtures/real_tokenizers.ts";

const readJson = (path: string) => JSON.parse(Deno.readTextFileSync(path));

Deno.test("faster BPE lookups: the same ids as the library's own on running text and word lists", async () => {
  // running text (words repeat: cache hits) and word lists (mostly distinct words: misses), several scripts
  const udhr = ["eng", "fra", "rus", "ell_monotonic", "vie", "cmn_hans"].map((l) =>
    new TextDecoder().decode(loadUdhr(l)).slice(0, 3000)
  );
  const lists = await Promise.all(
    ["fr", "el", "ru"].map(async (l) =>
      new TextDecoder().decode((await loadDictionary(l)).subarray(0, 30_000))
    ),
  );
  const texts = [...udhr, ...lists.map((s) => s.replace(/\uFFFD+$/, "")), "  a\n\n\tb it's 12345 🙂 naïve"];
  const qwen = readJson(`${qwen3Dir()}/tokenizer.json`);
  const qwenConfig = readJson(`${qwen3Dir()}/tokenizer_config.json`);
  for (
    const [name, json, config] of [["gpt2", gpt2TokenizerJson(), {}], ["qwen3", qwen, qwenConfig]] as const
  ) {
    const plain = new Tokenizer(json, config);
    const fast = new Tokenizer(json, config);
    fasterBpeLookups(fast);
    const model = (fast as unknown as { model: Record<string, unknown> }).model;
    assert.ok(Object.hasOwn(model, "add_node"), `${name}: the rank lookup was not replaced`);
    // twice: the second pass reads every word from the cache
    for (const pass of [1, 2]) {
      for (const [i, s] of texts.entries()) {
        const want = plain.encode(s, { add_special_tokens: false }).ids;
        assert.deepEqual(
          fast.encode(s, { add_special_tokens: false }).ids,
          want,
          `${name} text ${i} pass ${pass}`,
        );
      }
    }
  }
});

Deno.test("faster BPE lookups leave a model of another shape as it is", () => {
  const odd = { model: { merges: "a b", bpe_ranks: new Map(), cache: {}, add_node: () => {} } };
  const before = { ...odd.model };
  fasterBpeLookups(odd);
  assert.deepEqual(odd.model, before);
  fasterBpeLookups(null);
  fasterBpeLookups({});
});

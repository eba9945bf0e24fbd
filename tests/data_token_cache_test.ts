/** The token cache: built once, reused by content hash, and rebuilt (never trusted) when damaged. */
import assert from "node:assert/strict";
import { loadCorpus, type LoadCorpusOptions } from "../src/data/sources/load_corpus.ts";
import { Progress } from "../src/data/progress.ts";
import { tokenizerFromJson } from "../src/data/tokenizer.ts";
import { gpt2TokenizerJson } from "./fixtures/real_tokenizers.ts";

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_cache_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a corpus is tokenized once: a second load reads the cache; other content or tokenizer is another key", async () => {
  await withDir(async (dir) => {
    const gpt2 = tokenizerFromJson(gpt2TokenizerJson());
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(gpt2TokenizerJson()));
    const file = `${dir}/chat.jsonl`;
    const records = [
      { prompt: "2+2=", completion: "4" },
      { instruction: "Reverse", input: "abc", output: "cba" },
      { prompt: "Say hi", completion: " hi there" },
    ];
    await Deno.writeTextFile(file, records.map((r) => JSON.stringify(r)).join("\n"));
    const lines: string[] = [];
    const options: LoadCorpusOptions = {
      encoding: { tokenizer: gpt2, vocabSize: gpt2.vocabSize, eos: gpt2.eos },
      tokenizerFiles: [`${dir}/tokenizer.json`, `${dir}/tokenizer_config.json`],
      cacheDir: `${dir}/cache`,
      log: (l) => lines.push(l),
      label: "sft",
    };
    const first = await loadCorpus({ kind: "jsonl", path: file }, options);
    assert.equal(first.cached, false);
    assert.match(lines[0], /^sft: tokenized 0\.0 MB in [\d.]+ s \([\d.]+ MB\/s\): \d+ tokens, 3 examples$/);
    const second = await loadCorpus({ kind: "jsonl", path: file }, options);
    assert.equal(second.cached, true);
    assert.equal(second.cacheFile, first.cacheFile);
    assert.deepEqual([...second.corpus.ids], [...first.corpus.ids]);
    assert.deepEqual([...second.corpus.offsets], [...first.corpus.offsets]);
    assert.deepEqual([...second.corpus.trained!], [...first.corpus.trained!]);
    assert.equal(lines.length, 1, "a cache hit tokenizes nothing");
    // the same bytes under another name hit; other bytes miss
    await Deno.copyFile(file, `${dir}/copy.jsonl`);
    assert.equal((await loadCorpus({ kind: "jsonl", path: `${dir}/copy.jsonl` }, options)).cached, true);
    await Deno.writeTextFile(file, "\n" + JSON.stringify({ prompt: "1+1=", completion: "2" }), {
      append: true,
    });
    const changed = await loadCorpus({ kind: "jsonl", path: file }, options);
    assert.equal(changed.cached, false);
    assert.notEqual(changed.cacheFile, first.cacheFile);
    // a different tokenizer file (a config that adds a chat template) is another key
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify({ model_max_length: 1024 }));
    assert.equal((await loadCorpus({ kind: "jsonl", path: file }, options)).cached, false);
    // bytes and tokens of one file are different streams
    const bytes = await loadCorpus({ kind: "jsonl", path: file }, {
      ...options,
      encoding: { vocabSize: 256 },
    });
    assert.equal(bytes.cached, false);
    assert.ok(bytes.corpus.ids instanceof Uint8Array);
  });
});

Deno.test("a damaged cache file (truncated, flipped byte, other key, garbage) is detected and rebuilt", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/docs.jsonl`;
    await Deno.writeTextFile(
      file,
      ["alpha", "beta", "gamma"].map((t) => JSON.stringify({ text: t })).join("\n"),
    );
    const lines: string[] = [];
    const options: LoadCorpusOptions = {
      encoding: { vocabSize: 256 },
      cacheDir: `${dir}/cache`,
      log: (l) => lines.push(l),
    };
    const good = await loadCorpus({ kind: "jsonl", path: file }, options);
    const cacheFile = good.cacheFile!;
    const original = await Deno.readFile(cacheFile);
    const damage = async (bytes: Uint8Array, problem: RegExp): Promise<void> => {
      await Deno.writeFile(cacheFile, bytes);
      lines.length = 0;
      const again = await loadCorpus({ kind: "jsonl", path: file }, options);
      assert.equal(again.cached, false);
      assert.deepEqual(again.corpus.ids, good.corpus.ids);
      assert.match(lines[0], problem);
      assert.match(lines[0], /; tokenizing again$/);
      // rebuilt: the next load hits, from a file equal to the first
      assert.equal((await loadCorpus({ kind: "jsonl", path: file }, options)).cached, true);
      assert.deepEqual(await Deno.readFile(cacheFile), original);
    };
    await damage(original.subarray(0, original.length - 5), /truncated/);
    const flipped = original.slice();
    flipped[original.length - 40] ^= 1; // inside the offsets
    await damage(flipped, /its checksum does not match its contents/);
    const tail = original.slice();
    tail[tail.length - 1] ^= 0x80; // the checksum itself
    await damage(tail, /its checksum does not match its contents/);
    // another key of the same length: a file whose checksum is right but that was made from other data
    const otherKey = original.slice();
    const at = new TextDecoder("latin1").decode(original.subarray(0, 200)).indexOf('"key":"') + 7;
    otherKey[at] = otherKey[at] === 0x30 ? 0x31 : 0x30;
    await damage(otherKey, /its header names other data/);
    await damage(new TextEncoder().encode("hello"), /it is not a token cache file/);
    await damage(new Uint8Array(0), /it is not a token cache file/);
  });
});

Deno.test("the progress line shows megabytes, speed and time left", () => {
  const lines: string[] = [];
  const p = new Progress('domain "web": tokenizing', 200e6, (l) => lines.push(l), 0);
  p.add(50e6);
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /^domain "web": tokenizing: 50\.0 of 200\.0 MB \(25%\), [\d.]+ MB\/s, ETA (\d+ s|\?)$/,
  );
});

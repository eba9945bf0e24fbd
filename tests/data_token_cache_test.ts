/** The token cache: built once, reused by content hash, and rebuilt (never trusted) when damaged. */
import assert from "node:assert/strict";
import { loadCorpus, type LoadCorpusOptions } from "../src/data/sources/load_corpus.ts";
import { Progress } from "../src/data/progress.ts";
import { readTokenCache, writeTokenCache } from "../src/data/sources/token_cache.ts";
import type { TokenCorpus } from "../src/data/corpus.ts";
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

/** The id width a cache file's header names. */
async function idBytesOf(path: string): Promise<number> {
  const head = new TextDecoder("latin1").decode((await Deno.readFile(path)).subarray(0, 400));
  return Number(/"idBytes":(\d)/.exec(head)![1]);
}

Deno.test("ids below 65,536 are stored in 16 bits: half the bytes, read back as the same i32 stream", async () => {
  await withDir(async (dir) => {
    // three corpora past the 4 MiB read slice: ids of 16 bits, ids that need 32, bytes
    const n = 3_000_001;
    const docs = 1001;
    const offsets = Float64Array.from({ length: docs + 1 }, (_, i) => Math.round((i * n) / docs));
    const trained = Uint8Array.from({ length: n }, (_, i) => (i * 7) % 3 === 0 ? 1 : 0);
    const corpora: [string, TokenCorpus, number][] = [
      [
        "short",
        { ids: Int32Array.from({ length: n }, (_, i) => (i * 2654435761) % 65536), offsets, trained },
        2,
      ],
      ["wide", {
        ids: Int32Array.from({ length: n }, (_, i) => i % 3 === 0 ? 65536 + i % 1000 : i % 7),
        offsets,
      }, 4],
      ["bytes", { ids: Uint8Array.from({ length: n }, (_, i) => i % 251), offsets }, 1],
    ];
    const sizes: number[] = [];
    for (const [key, corpus, width] of corpora) {
      const path = `${dir}/${key}.tokens`;
      await writeTokenCache(path, key, corpus);
      assert.equal(await idBytesOf(path), width, key);
      sizes.push((await Deno.stat(path)).size);
      const read = await readTokenCache(path, key);
      assert.ok(read && "corpus" in read, JSON.stringify(read));
      const back = read.corpus;
      assert.equal(back.ids.constructor, corpus.ids.constructor, key);
      assert.deepEqual(back.ids, corpus.ids, key);
      assert.deepEqual(back.offsets, corpus.offsets, key);
      assert.deepEqual(back.trained, corpus.trained, key);
    }
    // the file is its header, 2 bytes an id (4 for the wide one), the offsets, the flags and the checksum
    const pad8 = (x: number) => Math.ceil(x / 8) * 8;
    const headerOf = async (key: string) => {
      const bytes = await Deno.readFile(`${dir}/${key}.tokens`);
      return pad8(12 + new DataView(bytes.buffer).getUint32(8, true));
    };
    assert.equal(sizes[0], (await headerOf("short")) + pad8(2 * n) + 8 * (docs + 1) + pad8(n) + 32);
    assert.equal(sizes[1], (await headerOf("wide")) + pad8(4 * n) + 8 * (docs + 1) + 32);
    // damage anywhere in the 16-bit file is caught: an id in the second slice, one in the first, a cut
    const path = `${dir}/short.tokens`;
    const original = await Deno.readFile(path);
    for (const at of [5_000_000, 300, original.length - 100]) {
      const bad = original.slice();
      bad[at] ^= 4;
      await Deno.writeFile(path, bad);
      assert.deepEqual(await readTokenCache(path, "short"), {
        problem: "its checksum does not match its contents",
      });
    }
    await Deno.writeFile(path, original.subarray(0, original.length - 1));
    const cut = await readTokenCache(path, "short");
    assert.ok(cut && "problem" in cut && /truncated/.test(cut.problem), JSON.stringify(cut));
  });
});

Deno.test("a damaged cache of 16-bit ids (GPT-2's tokenizer) is detected and rebuilt through loadCorpus", async () => {
  await withDir(async (dir) => {
    const gpt2 = tokenizerFromJson(gpt2TokenizerJson());
    const file = `${dir}/docs.jsonl`;
    await Deno.writeTextFile(
      file,
      ["alpha beta", "gamma delta", "zeta"].map((t) => JSON.stringify({ text: t })).join("\n"),
    );
    const lines: string[] = [];
    const options: LoadCorpusOptions = {
      encoding: { tokenizer: gpt2, vocabSize: gpt2.vocabSize, eos: gpt2.eos },
      cacheDir: `${dir}/cache`,
      log: (l) => lines.push(l),
    };
    const good = await loadCorpus({ kind: "jsonl", path: file }, options);
    assert.ok(good.corpus.ids instanceof Int32Array);
    assert.equal(await idBytesOf(good.cacheFile!), 2);
    const hit = await loadCorpus({ kind: "jsonl", path: file }, options);
    assert.equal(hit.cached, true);
    assert.deepEqual(hit.corpus.ids, good.corpus.ids);
    const original = await Deno.readFile(good.cacheFile!);
    const flipped = original.slice();
    // the first id's high byte: the ids start after the header, on 8 bytes
    const ids = Math.ceil((12 + new DataView(original.buffer).getUint32(8, true)) / 8) * 8;
    flipped[ids + 1] ^= 1;
    await Deno.writeFile(good.cacheFile!, flipped);
    lines.length = 0;
    const again = await loadCorpus({ kind: "jsonl", path: file }, options);
    assert.equal(again.cached, false);
    assert.deepEqual(again.corpus.ids, good.corpus.ids);
    assert.match(lines[0], /is damaged \(its checksum does not match its contents\); tokenizing again$/);
    assert.deepEqual(await Deno.readFile(good.cacheFile!), original);
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

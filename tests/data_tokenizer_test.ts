/** Tokenizers from hand-built tokenizer.json files (no hub access), and sequence packing. */
import assert from "node:assert/strict";
import { DataError } from "../src/data/errors.ts";
import { packDocuments, packedWindow } from "../src/data/packing.ts";
import { byteTokenizer, loadTokenizer, tokenizerFromJson } from "../src/data/tokenizer.ts";
import { byteLevelBpe, sentencePieceBpe } from "./fixtures/tokenizers.ts";

const TEXTS = ["hello world!", "hé wörld\n\ttabs  and  spaces", "日本語 🙂 12345", ""];

Deno.test("byte-level BPE (GPT-2 layout) gives known ids and round-trips any text", () => {
  const json = byteLevelBpe(["h e", "l l", "he ll", "Ġ w", "o r", "Ġw or", "l d"]);
  const t = tokenizerFromJson(json);
  assert.equal(t.vocabSize, 256 + 7 + 1);
  assert.equal(t.eos, 263);
  // "hell" (merge 3 -> 258), "o" (byte 111 -> 111 - 33 = 78), "Ġwor" (261), "ld" (262), "Ġ" (space: 220),
  // "ü" = C3 BC -> "Ã" (106 + 195 - 174 = 127) "¼" (106 + 188 - 174 = 120), "!" (0), as in GPT-2's table
  assert.deepEqual(t.encode("hello world ü!"), [258, 78, 261, 262, 220, 127, 120, 0]);
  for (const text of TEXTS) assert.equal(t.decode(t.encode(text)), text);
  assert.equal(t.decode([258, 263]), "hell<|endoftext|>");
});

Deno.test("byte-level BPE with Llama 3's split (digits in threes, merges not across splits)", () => {
  const split = {
    type: "Split",
    pattern: {
      Regex:
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    },
    behavior: "Isolated",
    invert: false,
  };
  const pre = {
    type: "Sequence",
    pretokenizers: [split, {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: false,
    }],
  };
  const plain = tokenizerFromJson(byteLevelBpe(["3 4", "4 5"]));
  const llama3 = tokenizerFromJson(byteLevelBpe(["3 4", "4 5"], pre));
  // "1" is byte 49 -> id 16; "34" is the first merge (256), "45" the second (257)
  assert.deepEqual(plain.encode("12345"), [16, 17, 256, 20]);
  assert.deepEqual(llama3.encode("12345"), [16, 17, 18, 257]);
  for (const text of TEXTS) assert.equal(llama3.decode(llama3.encode(text)), text);
});

Deno.test("SentencePiece-style BPE (Llama 2 layout) gives known ids, byte fallback, and round-trips", () => {
  const t = tokenizerFromJson(sentencePieceBpe(), { eos_token: "</s>" });
  assert.equal(t.vocabSize, 3 + 256 + 9 + 9);
  assert.equal(t.eos, 2);
  // "▁hell" 271, "o" 263, "▁world" 276, "!" 267; no <s>: special tokens are not added
  assert.deepEqual(t.encode("hello world!"), [271, 263, 276, 267]);
  // "é" is not a piece: its UTF-8 bytes C3 A9 fall back to <0xC3> (3 + 195) and <0xA9> (3 + 169)
  assert.deepEqual(t.encode("hé world"), [259, 260, 198, 172, 276]);
  for (const text of ["hello world!", "hé wörld", "日本語 🙂 12345"]) {
    assert.equal(t.decode(t.encode(text)), text);
  }
});

Deno.test("loadTokenizer() reads a model folder and names the file at fault", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_tok_" });
  try {
    assert.throws(
      () => loadTokenizer(dir),
      (e: Error) => e instanceof DataError && e.message === `${dir}/tokenizer.json: no such file`,
    );
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(sentencePieceBpe()));
    await Deno.writeTextFile(`${dir}/tokenizer_config.json`, JSON.stringify({ eos_token: "<eos>" }));
    assert.throws(
      () => loadTokenizer(dir),
      (e: Error) => e.message === `${dir}/tokenizer.json: eos_token "<eos>" is not in the vocabulary`,
    );
    await Deno.writeTextFile(
      `${dir}/tokenizer_config.json`,
      JSON.stringify({ eos_token: { content: "</s>" } }),
    );
    assert.equal(loadTokenizer(dir).eos, 2);
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify({ model: { type: "WordPiece" } }));
    assert.throws(
      () => loadTokenizer(dir),
      (e: Error) =>
        e.message ===
          `${dir}/tokenizer.json: model.type must be "BPE" (byte-level or SentencePiece-style), found "WordPiece"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("byteTokenizer is UTF-8 bytes", () => {
  assert.deepEqual(byteTokenizer.encode("hé"), [104, 195, 169]);
  assert.equal(byteTokenizer.decode([104, 195, 169]), "hé");
  assert.equal(byteTokenizer.eos, undefined);
});

Deno.test("packDocuments() puts EOS after each document; windows cross boundaries", () => {
  const packed = packDocuments([[5, 6, 7], [], [8, 9]], 1, 10);
  assert.deepEqual([...packed.ids], [5, 6, 7, 1, 1, 8, 9, 1]);
  assert.deepEqual([...packed.boundaries], [0, 4, 5]);
  // context 3: windows [0, 3] and [3, 6] share id 3; (8 - 1) / 3 = 2 windows
  assert.deepEqual(packedWindow(packed, 3, 0), {
    inputs: Int32Array.from([5, 6, 7]),
    targets: Int32Array.from([6, 7, 1]),
  });
  assert.deepEqual(packedWindow(packed, 3, 1), {
    inputs: Int32Array.from([1, 1, 8]),
    targets: Int32Array.from([1, 8, 9]),
  });
  assert.throws(
    () => packedWindow(packed, 3, 2),
    (e: Error) => e.message === "window 2 is outside [0, 2) for 8 ids",
  );
  assert.throws(
    () => packDocuments([[5, 10]], 1, 10),
    (e: Error) => e.message === "document 0, token 1: id 10 is outside [0, 10)",
  );
  assert.throws(
    () => packDocuments([[5]], -1, 10),
    (e: Error) => e.message === "the EOS id must be an integer in [0, 10), found -1",
  );
});

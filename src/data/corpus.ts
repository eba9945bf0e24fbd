/**
 * A tokenized corpus: one flat id stream with the offset of every document or example, and, for supervised
 * examples, which tokens the loss counts. Built in one streaming pass over a source's records or files.
 */
import { type ChatTemplate, exampleTexts } from "./chat_template.ts";
import { DataError, type DataErrorOptions } from "./errors.ts";
import { Growable } from "./growable.ts";
import type { Located } from "./sources/jsonl.ts";
import { isExample } from "./sources/records.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/** The token stream of a source, before splitting and packing. */
export interface TokenCorpus {
  /** Documents (each followed by EOS, or by a newline for bytes) or examples, back to back. */
  ids: Uint8Array | Int32Array;
  /** Start of each document or example in `ids`, and `ids.length` last: one more than their number. */
  offsets: Float64Array;
  /** For examples: 1 where the token is a response token the loss counts, 0 in prompts. */
  trained?: Uint8Array;
}

/** How text becomes ids: a tokenizer, or UTF-8 bytes; pre-tokenized ids are checked against `vocabSize`. */
export interface Encoding {
  tokenizer?: TextTokenizer;
  /** The model's ids: pre-tokenized ids must be below it. */
  vocabSize: number;
  /** Ends each document (a tokenizer's EOS, or the checkpoint's `eos_token_id` for pre-tokenized ids). */
  eos?: number;
  /** Renders chats (the tokenizer's `chat_template`). */
  template?: ChatTemplate;
}

const NEWLINE = 0x0a;

/** Appends documents or examples to one stream. */
export class CorpusBuilder {
  #ids: Growable<"u8"> | Growable<"i32"> | undefined;
  #offsets = new Growable("f64");
  #trained: Growable<"u8"> | undefined;
  #kind: "documents" | "examples" | undefined;
  #what: string | undefined;
  readonly #utf8 = new TextEncoder();

  constructor(readonly encoding: Encoding) {}

  /** Number of documents or examples so far. */
  get count(): number {
    return this.#offsets.length;
  }

  #begin(kind: "documents" | "examples", what: string, where: DataErrorOptions, bytes: boolean): void {
    if (this.#kind === undefined) {
      this.#kind = kind;
      this.#what = what;
      this.#ids = bytes ? new Growable("u8") : new Growable("i32");
      if (kind === "examples") this.#trained = new Growable("u8");
    } else if (this.#kind !== kind || (this.#ids?.kind === "u8") !== bytes) {
      throw new DataError(`a ${what} among ${this.#what}s: one domain holds one kind of record`, where);
    }
    this.#offsets.push(this.#ids!.length);
  }

  /** Starts a document of text (for bytes, after a newline that ends the previous document). */
  startText(where: DataErrorOptions = {}): void {
    const bytes = this.encoding.tokenizer === undefined;
    if (bytes && this.#kind === "documents" && this.#ids?.kind === "u8") this.#ids.push(NEWLINE);
    this.#begin("documents", "text document", where, bytes);
  }

  /** Appends text to the current document (a text file is read in pieces). */
  appendText(text: string): void {
    const t = this.encoding.tokenizer;
    if (t === undefined) this.#ids!.append(this.#utf8.encode(text));
    else this.#ids!.append(t.encode(text));
  }

  /** Ends the current document with the tokenizer's EOS (bytes have none). */
  endText(): void {
    const t = this.encoding.tokenizer;
    if (t !== undefined) this.#ids!.push(t.eos!);
  }

  /** A whole document of text. */
  addText(text: string, where: DataErrorOptions = {}): void {
    this.startText(where);
    this.appendText(text);
    this.endText();
  }

  /** A pre-tokenized document, checked against the vocabulary, then EOS. */
  addIds(ids: readonly number[], where: DataErrorOptions): void {
    const { vocabSize, eos } = this.encoding;
    if (eos === undefined) {
      throw new DataError(
        `pre-tokenized documents need an EOS id to end them: give the source a tokenizer, or the model a ` +
          `config.json with eos_token_id`,
        where,
      );
    }
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] >= vocabSize) {
        throw new DataError(
          `ids[${i}] is ${ids[i]}, outside the model's vocabulary [0, ${vocabSize})`,
          where,
        );
      }
    }
    this.#begin("documents", "pre-tokenized document", where, false);
    this.#ids!.append(ids);
    this.#ids!.push(eos);
  }

  /** A supervised example's examples (a chat may give several), tokenized segment by segment. */
  addExample(located: Located): void {
    const { tokenizer, template } = this.encoding;
    for (const example of exampleTexts(located.item, template, located.where)) {
      this.#begin("examples", "supervised example", located.where, tokenizer === undefined);
      const ids = this.#ids!;
      const trained = this.#trained!;
      const first = ids.length;
      for (const s of example.segments) {
        const encoded = tokenizer ? tokenizer.encode(s.text) : this.#utf8.encode(s.text);
        ids.append(encoded);
        trained.fill(s.trained ? 1 : 0, encoded.length);
      }
      if (example.eos && tokenizer?.eos !== undefined) {
        ids.push(tokenizer.eos);
        trained.push(1);
      }
      // nothing before an example's first token belongs to it: that token is never a target
      if (ids.length > first) trained.view()[first] = 0;
    }
  }

  /** Adds one record of a JSONL or Parquet source. */
  addRecord(located: Located): void {
    const { item, where } = located;
    if (isExample(item)) this.addExample(located);
    else if (item.kind === "text") this.addText(item.text, where);
    else if (item.kind === "ids") {
      if (this.encoding.tokenizer === undefined && this.encoding.vocabSize === 256) {
        throw new DataError(
          `pre-tokenized ids need a tokenizer, or a pretrained model whose vocab_size bounds them`,
          where,
        );
      }
      this.addIds(item.ids, where);
    }
  }

  /** The corpus; a source without records is a DataError naming `file`. */
  done(file: string): TokenCorpus {
    if (this.#ids === undefined) throw new DataError("has no documents", { file });
    const ids = this.#ids.done();
    this.#offsets.push(ids.length);
    const corpus: TokenCorpus = { ids, offsets: this.#offsets.done() };
    if (this.#trained) corpus.trained = this.#trained.done();
    return corpus;
  }
}

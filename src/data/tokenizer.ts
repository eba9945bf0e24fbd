/**
 * Tokenizers: bytes (mixtune's own LMs), or a Hugging Face `tokenizer.json` run by `@huggingface/tokenizers`
 * (byte-level BPE as in GPT-2, Llama 3 and Qwen2; SentencePiece-style BPE with byte fallback as in Llama 2
 * and Mistral). Encoding adds no special tokens: documents are joined with the end-of-document id by
 * `packDocuments`, so a tokenizer's own BOS/EOS templates do not apply.
 */
import { files } from "../host/files.ts";
import { Tokenizer } from "@huggingface/tokenizers";
import { fasterBpeLookups } from "./_bpe_lookups.ts";
import { DataError } from "./errors.ts";

/** Text to token ids and back. */
export interface TextTokenizer {
  /** Ids are in [0, vocabSize). */
  readonly vocabSize: number;
  /** The id that ends a document (EOS), when the tokenizer has one. */
  readonly eos?: number;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** The Jinja chat template of `tokenizer_config.json`, when it has one. */
  readonly chatTemplate?: string;
  /** Special tokens a chat template may read (`bos_token`, `eos_token`, ...), from `tokenizer_config.json`. */
  readonly specialTokens?: Record<string, string>;
  /** True when every encoded string gets a marker prepended (SentencePiece-style): text is encoded whole. */
  readonly prependsMarker?: boolean;
}

/** UTF-8 bytes as ids 0-255; it has no EOS id. */
export const byteTokenizer: TextTokenizer = {
  vocabSize: 256,
  encode: (text) => [...new TextEncoder().encode(text)],
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
};

type Json = Record<string, unknown>;

function tokenName(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null && typeof (value as Json).content === "string") {
    return (value as Json).content as string;
  }
  return undefined;
}

/**
 * A tokenizer from the parsed `tokenizer.json` (and `tokenizer_config.json`, optional). The EOS token is the
 * config's `eos_token`, else the first of `</s>`, `<|endoftext|>`, `<|end_of_text|>`, `<|im_end|>` present.
 */
export function tokenizerFromJson(
  tokenizer: Json,
  config: Json = {},
  where = "tokenizer.json",
): TextTokenizer {
  const model = tokenizer.model as Json | undefined;
  if (typeof model !== "object" || model === null || model.type !== "BPE") {
    throw new DataError(
      `model.type must be "BPE" (byte-level or SentencePiece-style), found ${JSON.stringify(model?.type)}`,
      { file: where },
    );
  }
  let t: Tokenizer;
  try {
    t = new Tokenizer(tokenizer, config);
  } catch (e) {
    throw new DataError(`cannot build the tokenizer: ${(e as Error).message}`, { file: where });
  }
  fasterBpeLookups(t);
  const vocab = t.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const names = [tokenName(config.eos_token), "</s>", "<|endoftext|>", "<|end_of_text|>", "<|im_end|>"];
  const eosName = names.find((n) => n !== undefined && vocab.has(n));
  if (tokenName(config.eos_token) !== undefined && eosName !== tokenName(config.eos_token)) {
    throw new DataError(`eos_token ${JSON.stringify(config.eos_token)} is not in the vocabulary`, {
      file: where,
    });
  }
  const specialTokens: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "pad_token", "unk_token"]) {
    const name = tokenName(config[key]);
    if (name !== undefined) specialTokens[key] = name;
  }
  const template = chatTemplateOf(config.chat_template, where);
  const layout = JSON.stringify([tokenizer.normalizer ?? null, tokenizer.pre_tokenizer ?? null]);
  return {
    vocabSize,
    eos: eosName === undefined ? undefined : vocab.get(eosName),
    ...(template === undefined ? {} : { chatTemplate: template }),
    specialTokens,
    prependsMarker: /"Prepend"|"Metaspace"/.test(layout),
    encode: (text) => t.encode(text, { add_special_tokens: false }).ids,
    // the library refuses an empty list
    decode: (ids) => ids.length === 0 ? "" : t.decode([...ids], { skip_special_tokens: false }),
  };
}

/** The default chat template: a string, or the one named "default" in a list of named templates. */
function chatTemplateOf(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => (t as Json)?.name === "default") as Json | undefined;
    if (typeof named?.template === "string") return named.template;
  }
  throw new DataError(`chat_template must be a string or a list with a "default" template`, {
    file: where.replace(/tokenizer\.json$/, "tokenizer_config.json"),
  });
}

function readJson(path: string, required: boolean): Json | undefined {
  let text: string;
  try {
    text = files().readTextFileSync(path);
  } catch (e) {
    if (files().notFound(e) && !required) return undefined;
    if (files().notFound(e)) throw new DataError("no such file", { file: path });
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataError(`invalid JSON (${(e as Error).message})`, { file: path });
  }
}

/** The tokenizer of a model folder: `tokenizer.json`, with `tokenizer_config.json` when present. */
export function loadTokenizer(dir: string): TextTokenizer {
  const file = `${dir}/tokenizer.json`;
  const tokenizer = readJson(file, true)!;
  const config = readJson(`${dir}/tokenizer_config.json`, false);
  return tokenizerFromJson(tokenizer, config, file);
}

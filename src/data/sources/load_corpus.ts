/**
 * A source's token stream, tokenized once: looked up in the token cache by content hash, and on a miss
 * read as a stream (JSONL, `.jsonl.gz`, Parquet, text files), tokenized with a progress line, and stored.
 */
import { files } from "../../host/files.ts";
import { ChatTemplate } from "../chat_template.ts";
import { CorpusBuilder, type Encoding, type TokenCorpus } from "../corpus.ts";
import { DataError } from "../errors.ts";
import { mb, Progress } from "../progress.ts";
import { readJsonl, type RecordOptions } from "./jsonl.ts";
import { parquetFiles, readParquet } from "./parquet.ts";
import { readTextPieces, textFiles } from "./text_folder.ts";
import { hashFile, hashKey, readTokenCache, writeTokenCache } from "./token_cache.ts";

/** A file-backed source of documents or examples. */
export interface CorpusSource {
  kind: "text" | "jsonl" | "parquet";
  /** A file, or a folder (text files; `*.parquet` files). */
  path: string;
  /** Which records are read (JSONL and Parquet). */
  records?: RecordOptions;
}

/** How a corpus is loaded. */
export interface LoadCorpusOptions {
  encoding: Encoding;
  /** Files whose bytes decide the tokenization (the tokenizer folder's JSON files), for the cache key. */
  tokenizerFiles?: readonly string[];
  /** Folder of token cache files; unset, nothing is cached. */
  cacheDir?: string;
  /** Where progress and cache lines go; unset, nowhere. */
  log?: (line: string) => void;
  /** Names the corpus in those lines. */
  label?: string;
}

/** A loaded corpus, and whether it came from the cache (and which file). */
export interface LoadedCorpus {
  corpus: TokenCorpus;
  cached: boolean;
  cacheFile?: string;
}

/** The files a source reads, in order. */
export function sourceFiles(source: CorpusSource): string[] {
  if (source.kind === "parquet") return parquetFiles(source.path);
  if (source.kind === "text") return textFiles(source.path);
  return [source.path];
}

/** The cache key of a source under an encoding: hashes of every input's bytes and every setting. */
export async function corpusKey(source: CorpusSource, options: LoadCorpusOptions): Promise<string> {
  const digests = await Promise.all(sourceFiles(source).map(hashFile));
  const tokenizer = await Promise.all((options.tokenizerFiles ?? []).map(async (f) => {
    try {
      return await hashFile(f);
    } catch (e) {
      if (files().notFound(e)) return null;
      throw e;
    }
  }));
  const { vocabSize, eos } = options.encoding;
  return hashKey({
    kind: source.kind,
    records: source.records ?? {},
    files: digests,
    tokenizer: options.encoding.tokenizer ? tokenizer : "bytes",
    vocabSize,
    eos: eos ?? null,
  });
}

/** Loads (or builds and caches) the token stream of a source. */
export async function loadCorpus(source: CorpusSource, options: LoadCorpusOptions): Promise<LoadedCorpus> {
  const log = options.log ?? (() => {});
  const label = options.label ?? source.path;
  let key: string | undefined;
  let cacheFile: string | undefined;
  if (options.cacheDir !== undefined) {
    key = await corpusKey(source, options);
    cacheFile = `${options.cacheDir}/${key}.tokens`;
    const hit = await readTokenCache(cacheFile, key);
    if (hit && "corpus" in hit) return { corpus: hit.corpus, cached: true, cacheFile };
    if (hit) log(`${label}: token cache ${cacheFile} is damaged (${hit.problem}); tokenizing again`);
  }
  const corpus = await buildCorpus(source, options.encoding, log, label);
  if (cacheFile !== undefined && key !== undefined) {
    if (Deno.permissions.querySync({ name: "write", path: options.cacheDir }).state !== "granted") {
      log(
        `${label}: no permission to write the token cache in ${options.cacheDir}; it is tokenized again next time`,
      );
      return { corpus, cached: false };
    }
    try {
      await writeTokenCache(cacheFile, key, corpus);
    } catch (e) {
      // a cache that cannot be written costs time, not correctness
      log(`${label}: cannot write the token cache ${cacheFile} (${(e as Error).message})`);
      return { corpus, cached: false };
    }
  }
  return { corpus, cached: false, cacheFile };
}

/** Reads and tokenizes a source in one streaming pass. */
export async function buildCorpus(
  source: CorpusSource,
  encoding: Encoding,
  log: (line: string) => void = () => {},
  label = source.path,
): Promise<TokenCorpus> {
  const paths = sourceFiles(source);
  const total = paths.reduce((n, f) => n + files().statSync(f).size, 0);
  const progress = new Progress(`${label}: tokenizing`, total, log);
  const onRead = (n: number): void => progress.add(n);
  const builder = new CorpusBuilder(withTemplate(encoding));
  if (source.kind === "text") {
    const split = !encoding.tokenizer?.prependsMarker;
    for (const file of paths) {
      builder.startText({ file });
      for await (const piece of readTextPieces(file, split, onRead)) builder.appendText(piece);
      builder.endText();
    }
  } else {
    const records = source.kind === "jsonl"
      ? readJsonl(source.path, source.records, onRead)
      : readParquet(source.path, source.records, onRead);
    for await (const r of records) builder.addRecord(r);
  }
  if (builder.count === 0) {
    const what = source.records?.domain === undefined ? "" : ` of domain "${source.records.domain}"`;
    throw new DataError(`has no records${what}`, { file: source.path });
  }
  const corpus = builder.done(source.path);
  const seconds = progress.seconds;
  log(
    `${label}: tokenized ${mb(total)} MB in ${seconds.toFixed(1)} s (${
      (total / 1e6 / seconds).toFixed(1)
    } MB/s): ` +
      `${corpus.ids.length} tokens, ${corpus.offsets.length - 1} ${
        corpus.trained ? "examples" : "documents"
      }`,
  );
  return corpus;
}

function withTemplate(encoding: Encoding): Encoding {
  const t = encoding.tokenizer;
  if (encoding.template !== undefined || t?.chatTemplate === undefined) return encoding;
  return { ...encoding, template: new ChatTemplate(t.chatTemplate, t.specialTokens) };
}

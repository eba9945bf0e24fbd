/** Loads a pipeline's data domains from their specs: source, then transforms in order. */
import { joinPath, PipelineError, type Problem } from "../spec/problem.ts";
import type { DomainSpec, JsonlSource, ParquetSource, PipelineSpec } from "../spec/types.ts";
import {
  DataError,
  type Degradation,
  degrade,
  type Domain,
  fractionBytes,
  fractionImages,
  imageDomain,
  type ImageSet,
  joinDocuments,
  loadDictionary,
  loadImageFolder,
  loadMnist,
  loadUdhr,
  mixQuality,
  MNIST_SIDE,
  takeBytes,
  takeImages,
  textDomain,
  tokenDomain,
  type TokenStream,
} from "../data/mod.ts";
import { packDocuments } from "../data/packing.ts";
import { loadTokenizer, type TextTokenizer } from "../data/tokenizer.ts";
import { imageSide, pretrainedLm, pretrainedVit, tokens } from "../models/config.ts";
import { readPretrainedConfig } from "../models/pretrained/checkpoint.ts";
import type { Encoding } from "../data/corpus.ts";
import { exampleDomain, takeTokens } from "../data/examples.ts";
import { loadCorpus } from "../data/sources/load_corpus.ts";
import type { RecordOptions } from "../data/sources/jsonl.ts";

/** Where file-backed domains keep their token streams, and where loading reports progress. */
export interface DomainLoadOptions {
  /** Folder of the token cache (`<out>/.tokens`); unset, nothing is cached. */
  tokens?: string;
  /** Progress lines while a corpus is tokenized; unset, none. */
  log?: (line: string) => void;
}

/** The token cache folder of an output folder: shared by every run and sweep written there. */
export function tokenCacheDir(out: string): string {
  return `${out}/.tokens`;
}

/** The named domains, loaded once by `load` (built-in sources import their npm packages) and then read. */
export class DomainCache {
  #loaded = new Map<string, Domain>();
  constructor(readonly spec: PipelineSpec, readonly options: DomainLoadOptions = {}) {}

  /** Loads the named domains (default all of the pipeline's) that are not loaded yet. */
  async load(names: readonly string[] = Object.keys(this.spec.domains)): Promise<void> {
    for (const name of names) {
      if (this.#loaded.has(name)) continue;
      const spec = this.spec.domains[name];
      if (!spec) throw new DataError(`no domain named "${name}"`);
      this.#loaded.set(name, await loadDomain(name, spec, this.spec, this.options));
    }
  }

  /** The domain called `name`, which `load` must have loaded. */
  get(name: string): Domain {
    const d = this.#loaded.get(name);
    if (!d) {
      if (!this.spec.domains[name]) throw new DataError(`no domain named "${name}"`);
      throw new Error(`domain "${name}" was read before it was loaded`);
    }
    return d;
  }

  /** Several domains, in order. */
  all(names: readonly string[]): Domain[] {
    return names.map((n) => this.get(n));
  }
}

/**
 * The side of the images a pipeline's model reads: MNIST's 28 when a domain is MNIST and the model is a
 * pretrained ViT that resizes (its preprocessor_config.json's do_resize; validation refuses any other
 * mismatch), else the model's side. Image folders are read at this side, so every domain shares it.
 */
export function imageInputSide(pipeline: PipelineSpec): number {
  const side = imageSide(pipeline.model) ?? MNIST_SIDE;
  const mnist = Object.values(pipeline.domains).some((d) => d.source.kind === "mnist");
  const vit = pretrainedVit(pipeline.model);
  return mnist && vit?.preprocess?.resize ? MNIST_SIDE : side;
}

/** Applies a domain's source and transforms. Errors name the domain. */
export async function loadDomain(
  name: string,
  spec: DomainSpec,
  pipeline: PipelineSpec,
  options: DomainLoadOptions = {},
): Promise<Domain> {
  const seed = pipeline.seed;
  const transforms = spec.transforms ?? [];
  const split = transforms.find((t) => t.kind === "split");
  const validation = split && split.kind === "split" ? split.validation : 0;
  const src = spec.source;
  if (src.kind === "mnist" || src.kind === "images") {
    let set: ImageSet = src.kind === "mnist"
      ? await loadMnist({ digits: src.digits })
      : loadImageFolder(src.path, { side: imageInputSide(pipeline) })
        .set;
    for (const t of transforms) {
      if (t.kind === "take") set = takeImages(set, t.count, `domain "${name}"`);
      else if (t.kind === "fraction") set = fractionImages(set, t.fraction);
      else if (t.kind === "degrade") {
        set = { ...set, images: degrade(set.images, set.side, degradations(t, set.side), seed) };
      } else if (t.kind === "mixQuality") {
        const steps = degradations({ downsample: t.downsample }, set.side);
        set = mixQuality(set, { fraction: t.degradedFraction, steps, seed }).set;
      }
    }
    return imageDomain(name, set, validation, seed);
  }
  if (src.kind === "dictionary" || src.kind === "udhr") {
    const documents = [
      src.kind === "dictionary" ? await loadDictionary(src.language, { seed }) : loadUdhr(src.language),
    ];
    let bytes: TokenStream = src.tokenizer !== undefined
      ? tokenize(name, documents, src.tokenizer, pipeline)
      : joinDocuments(documents);
    for (const t of transforms) {
      if (t.kind === "take") bytes = takeBytes(bytes, t.count, `domain "${name}"`);
      else if (t.kind === "fraction") bytes = fractionBytes(bytes, t.fraction);
    }
    return bytes instanceof Uint8Array
      ? textDomain(name, bytes, validation)
      : tokenDomain(name, bytes, validation);
  }
  const encoding = domainEncoding(name, src.tokenizer, pipeline);
  const { corpus } = await loadCorpus(
    { kind: src.kind, path: src.path, records: src.kind === "text" ? undefined : recordOptions(src) },
    { ...encoding, cacheDir: options.tokens, log: options.log, label: `domain "${name}"` },
  );
  for (const t of transforms) {
    if (t.kind === "degrade" || t.kind === "mixQuality") {
      throw new DataError(`domain "${name}": ${t.kind} applies to images, not text`);
    }
  }
  if (corpus.trained) {
    const take = transforms.find((t) => t.kind === "take");
    const fraction = transforms.find((t) => t.kind === "fraction");
    return exampleDomain(name, corpus, {
      take: take?.kind === "take" ? take.count : undefined,
      fraction: fraction?.kind === "fraction" ? fraction.fraction : undefined,
      validation,
      context: tokens(pipeline.model),
      packing: ("packing" in src ? src.packing : undefined) ?? "pack",
      pad: encoding.encoding.eos ?? 0,
    });
  }
  let ids: TokenStream = corpus.ids;
  for (const t of transforms) {
    if (t.kind === "take") ids = takeTokens(ids, t.count, `domain "${name}"`);
    else if (t.kind === "fraction") ids = ids.subarray(0, Math.floor(t.fraction * ids.length));
  }
  return tokenDomain(name, ids, validation);
}

function recordOptions(src: JsonlSource | ParquetSource): RecordOptions {
  const out: RecordOptions = {};
  if (src.textField !== undefined) out.textField = src.textField;
  if (src.domain !== undefined) out.domain = src.domain;
  if (src.domainField !== undefined) out.domainField = src.domainField;
  return out;
}

/**
 * How a domain's text becomes the model's ids: its tokenizer (checked against the model), or bytes; a
 * pretrained model's `vocab_size` bounds pre-tokenized ids and its `eos_token_id` ends their documents.
 */
function domainEncoding(
  name: string,
  dir: string | undefined,
  pipeline: PipelineSpec,
): { encoding: Encoding; tokenizerFiles: string[] } {
  if (dir !== undefined) {
    const tokenizer = loadTokenizer(dir);
    const problem = tokenizerProblem(tokenizer, dir, pipeline);
    if (problem !== undefined) throw new DataError(`domain "${name}": ${problem}`);
    return {
      encoding: { tokenizer, vocabSize: tokenizer.vocabSize, eos: tokenizer.eos },
      tokenizerFiles: [`${dir}/tokenizer.json`, `${dir}/tokenizer_config.json`],
    };
  }
  const model = pipeline.model;
  if (model.backbone !== "pretrained") return { encoding: { vocabSize: 256 }, tokenizerFiles: [] };
  const eos = readPretrainedConfig(model.pretrained).config.eos_token_id;
  const first = Array.isArray(eos) ? eos[0] : eos;
  return {
    encoding: {
      vocabSize: pretrainedLm(model).vocab,
      eos: Number.isSafeInteger(first) ? first as number : undefined,
    },
    tokenizerFiles: [],
  };
}

/** What is wrong with a domain's tokenizer for this model, or undefined when it fits. */
function tokenizerProblem(t: TextTokenizer, dir: string, spec: PipelineSpec): string | undefined {
  const model = spec.model;
  if (model.backbone === "pretrained") {
    // a checkpoint's embedding table may be padded beyond its tokenizer (GPT-2 style), never short of it
    const vocab = pretrainedLm(model).vocab;
    if (t.vocabSize > vocab) {
      return `${dir}/tokenizer.json has ${t.vocabSize} ids but ${model.pretrained}/config.json has vocab_size ${vocab}`;
    }
  } else if (model.backbone !== "lm" || model.vocab !== t.vocabSize) {
    const vocab = model.backbone === "lm" ? model.vocab : undefined;
    return `${dir}/tokenizer.json has ${t.vocabSize} ids but model.vocab is ${vocab}`;
  }
  if (t.eos === undefined) return `${dir}/tokenizer.json has no EOS token to end documents with`;
  return undefined;
}

/**
 * Loads every domain tokenizer and checks it against the model before anything runs: a bad one is a
 * PipelineError at `domains.<name>.source.tokenizer`.
 */
export function checkDomainTokenizers(spec: PipelineSpec): void {
  const problems: Problem[] = [];
  for (const [name, d] of Object.entries(spec.domains)) {
    const dir = "tokenizer" in d.source ? d.source.tokenizer : undefined;
    if (dir === undefined) continue;
    const path = joinPath(joinPath(joinPath("domains", name), "source"), "tokenizer");
    try {
      const message = tokenizerProblem(loadTokenizer(dir), dir, spec);
      if (message !== undefined) problems.push({ path, message });
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      problems.push({ path, message: e.message });
    }
  }
  if (problems.length) throw new PipelineError(problems);
}

/** Documents encoded by the model folder's tokenizer (pre-tokenized ones checked), packed with EOS. */
function tokenize(
  name: string,
  documents: (Uint8Array | Int32Array)[],
  dir: string,
  pipeline: PipelineSpec,
): Int32Array {
  const tokenizer = loadTokenizer(dir);
  const problem = tokenizerProblem(tokenizer, dir, pipeline);
  if (problem !== undefined) throw new DataError(`domain "${name}": ${problem}`);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const ids = documents.map((d) => d instanceof Int32Array ? [...d] : tokenizer.encode(decoder.decode(d)));
  return packDocuments(ids, tokenizer.eos!, tokenizer.vocabSize).ids;
}

function degradations(t: { downsample: number; blur?: number; noise?: number }, side: number): Degradation[] {
  const steps: Degradation[] = [{
    kind: "downsample",
    size: Math.round(side / t.downsample),
    upsample: "bilinear",
  }];
  if (t.blur) steps.push({ kind: "blur", sigma: t.blur });
  if (t.noise) steps.push({ kind: "noise", std: t.noise });
  return steps;
}

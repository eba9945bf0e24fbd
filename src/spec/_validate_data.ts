/** Validation of data domains: sources and transforms. */

import {
  imageSide,
  isImageModel,
  type ModelConfig,
  pretrainedArch,
  pretrainedVit,
} from "../models/config.ts";

const MNIST_SIDE = 28;
import { type Checker, COUNT, FRACTION, NON_NEGATIVE, OPEN_FRACTION } from "./_checker.ts";
import { DICTIONARY_LANGUAGES } from "../data/sources/dictionary.ts";
import { udhrLanguages } from "../data/sources/udhr.ts";
import { closest, messages } from "./messages.ts";
import { joinPath } from "./problem.ts";

/** What later checks need to know about the declared domains. */
export interface DomainFacts {
  /** Every declared domain name, in declaration order. */
  names: string[];
  /** Source kind per domain, where it is valid. */
  sources: Map<string, string>;
  /** Domains with a `split` transform (they have a validation split). */
  split: Set<string>;
}

const SOURCES = {
  dictionary: ["language", "tokenizer"],
  udhr: ["language", "tokenizer"],
  mnist: ["digits"],
  text: ["path", "tokenizer"],
  jsonl: ["path", "textField", "domainField", "domain", "tokenizer", "packing"],
  parquet: ["path", "textField", "domainField", "domain", "tokenizer", "packing"],
  images: ["path"],
} as const;

const TRANSFORMS = {
  take: ["count"],
  fraction: ["fraction"],
  split: ["validation"],
  degrade: ["downsample", "blur", "noise"],
  mixQuality: ["degradedFraction", "downsample"],
} as const;

const IMAGE_SOURCES = new Set(["mnist", "images"]);

/** True for the sources that yield images rather than text. */
export function isImageSource(kind: string): boolean {
  return IMAGE_SOURCES.has(kind);
}

/** Checks `domains`; `model` (when valid) decides which sources fit and which downsample factors divide. */
export function checkDomains(check: Checker, value: unknown, model: ModelConfig | undefined): DomainFacts {
  const facts: DomainFacts = { names: [], sources: new Map(), split: new Set() };
  const tokenizers: { at: string; value: unknown }[] = [];
  const domains = check.map("domains", value);
  if (domains === undefined) return facts;
  if (Object.keys(domains).length === 0) {
    check.add("domains", messages.expected("at least one domain", domains));
  }
  for (const [name, domain] of Object.entries(domains)) {
    const path = joinPath("domains", name);
    check.name(path, name);
    facts.names.push(name);
    const fields = check.record(path, domain, ["source", "transforms"]);
    if (fields === undefined) continue;
    const source = checkSource(check, joinPath(path, "source"), fields.source, model);
    if (source !== undefined) facts.sources.set(name, source);
    const tokenizer = (fields.source as { tokenizer?: unknown })?.tokenizer;
    if (source !== undefined && !isImageSource(source)) {
      tokenizers.push({ at: joinPath(joinPath(path, "source"), "tokenizer"), value: tokenizer });
    }
    const hasSplit = checkTransforms(check, joinPath(path, "transforms"), fields.transforms, source, model);
    if (hasSplit) facts.split.add(name);
  }
  checkTokenizers(check, tokenizers, model);
  return facts;
}

function checkSource(
  check: Checker,
  path: string,
  value: unknown,
  model: ModelConfig | undefined,
): string | undefined {
  const variant = check.variant(path, value, SOURCES);
  if (variant === undefined) return undefined;
  const { kind, fields } = variant;
  const at = (key: string): string => joinPath(path, key);
  if (kind === "dictionary" || kind === "udhr") {
    const language = check.string(at("language"), fields.language);
    if (language !== undefined) checkLanguage(check, at("language"), kind, language);
  }
  if (kind === "text" || kind === "jsonl" || kind === "parquet" || kind === "images") {
    check.string(at("path"), fields.path);
  }
  if (kind === "mnist") checkDigits(check, at("digits"), fields.digits);
  if (!isImageSource(kind)) check.string(at("tokenizer"), fields.tokenizer, false);
  if (kind === "jsonl" || kind === "parquet") {
    if (fields.packing !== undefined) check.oneOf(at("packing"), fields.packing, ["pack", "pad", "isolate"]);
    check.string(at("textField"), fields.textField, false);
    const domainField = check.string(at("domainField"), fields.domainField, false);
    check.string(at("domain"), fields.domain, false);
    if (domainField !== undefined && fields.domain === undefined) {
      check.add(at("domainField"), messages.domainFieldWithoutDomain());
    }
  }
  if (model !== undefined && isImageSource(kind) !== isImageModel(model)) {
    check.add(at("kind"), messages.sourceForModel(isImageModel(model) ? "vit" : model.backbone, kind));
  }
  // mnist digits are 28 pixels a side; image folders are read at the model's side
  const vit = model === undefined ? undefined : pretrainedVit(model);
  if (
    kind === "mnist" && vit && vit.image !== MNIST_SIDE && !vit.preprocess?.resize &&
    model?.backbone === "pretrained"
  ) {
    check.add(at("kind"), messages.imageSide(`${model.pretrained}/config.json`, vit.image, kind, MNIST_SIDE));
  }
  return kind;
}

/**
 * One vocabulary per model: every text domain uses the same tokenizer (or none), and `model.vocab` is set;
 * a checkpoint read with byte ids needs at least 256 ids (its tokenizer's size is checked when it is loaded).
 */
function checkTokenizers(
  check: Checker,
  tokenizers: { at: string; value: unknown }[],
  model: ModelConfig | undefined,
): void {
  const first = tokenizers.find((t) => typeof t.value === "string");
  if (first === undefined) {
    // bytes are ids 0-255: a smaller table would be read out of range
    if (model?.backbone === "lm" && model.vocab !== undefined && model.vocab !== 256) {
      check.add("model.vocab", messages.expected("256 (bytes: no text domain has a tokenizer)", model.vocab));
    }
    const arch = model?.backbone === "pretrained" ? pretrainedArch(model) : undefined;
    const pretrained = arch && arch.family !== "vit" ? arch.vocab : 256;
    if (model?.backbone === "pretrained" && tokenizers.length > 0 && pretrained < 256) {
      check.add("model.pretrained", messages.byteVocab(`${model.pretrained}/config.json`, pretrained));
    }
    return;
  }
  for (const t of tokenizers) {
    if (t.value !== first.value) {
      check.add(
        t.at,
        messages.expected(`the tokenizer of ${first.at} (${JSON.stringify(first.value)})`, t.value),
      );
    }
  }
  if (model?.backbone === "lm" && model.vocab === undefined) {
    check.add(
      "model.vocab",
      `expected the vocabulary size of the tokenizer ${
        JSON.stringify(first.value)
      } (${first.at}), found nothing`,
    );
  }
}

/** The language must name data the package has (udhr also takes a unique BCP 47 or ISO 639-3 code). */
function checkLanguage(check: Checker, path: string, kind: "dictionary" | "udhr", language: string): void {
  if (kind === "dictionary") {
    if (!DICTIONARY_LANGUAGES.includes(language)) {
      check.add(path, messages.dictionaryLanguage(language, DICTIONARY_LANGUAGES));
    }
    return;
  }
  const all = udhrLanguages();
  if (all.some((u) => u.code === language)) return;
  const matches = all.filter((u) => u.bcp47 === language || u.iso6393 === language).map((u) => u.code);
  if (matches.length === 1) return;
  check.add(
    path,
    matches.length === 0
      ? messages.udhrLanguage(language, closest(language, all.map((u) => u.code), 3))
      : messages.oneOf(matches, language),
  );
}

function checkDigits(check: Checker, path: string, value: unknown): void {
  const digits = check.array(path, value, false);
  if (digits === undefined) return;
  if (digits.length === 0) check.add(path, messages.expected("at least one digit", digits));
  const seen = new Set<number>();
  digits.forEach((digit, i) => {
    const d = check.number(joinPath(path, i), digit, { integer: true, min: 0, max: 9 });
    if (d === undefined) return;
    if (seen.has(d)) check.add(joinPath(path, i), messages.duplicate("digits", d));
    seen.add(d);
  });
}

/** Checks the transform list; returns whether it holds a split. */
function checkTransforms(
  check: Checker,
  path: string,
  value: unknown,
  source: string | undefined,
  model: ModelConfig | undefined,
): boolean {
  const list = check.array(path, value, false);
  if (list === undefined) return false;
  let split = false;
  list.forEach((item, i) => {
    const itemPath = joinPath(path, i);
    const variant = check.variant(itemPath, item, TRANSFORMS);
    if (variant === undefined) return;
    const { kind, fields } = variant;
    const at = (key: string): string => joinPath(itemPath, key);
    switch (kind) {
      case "take":
        check.number(at("count"), fields.count, COUNT);
        break;
      case "fraction":
        check.number(at("fraction"), fields.fraction, FRACTION);
        break;
      case "split":
        check.number(at("validation"), fields.validation, OPEN_FRACTION);
        if (split) check.add(itemPath, messages.secondSplit());
        split = true;
        break;
      case "degrade":
      case "mixQuality":
        if (source !== undefined && !isImageSource(source)) {
          check.add(at("kind"), messages.imageOnly(kind, source));
        }
        checkDownsample(check, at("downsample"), fields.downsample, source, model);
        if (kind === "degrade") {
          check.number(at("blur"), fields.blur, NON_NEGATIVE, false);
          check.number(at("noise"), fields.noise, NON_NEGATIVE, false);
        } else {
          check.number(at("degradedFraction"), fields.degradedFraction, FRACTION);
        }
        break;
    }
  });
  return split;
}

function checkDownsample(
  check: Checker,
  path: string,
  value: unknown,
  source: string | undefined,
  model: ModelConfig | undefined,
): void {
  const factor = check.number(path, value, { integer: true, min: 2 });
  // MNIST stays 28 pixels when a pretrained ViT resizes it (degradations apply before the resize)
  const resized = source === "mnist" && model !== undefined && pretrainedVit(model)?.preprocess?.resize;
  const side = model === undefined ? undefined : resized ? MNIST_SIDE : imageSide(model);
  if (factor !== undefined && side !== undefined && side % factor !== 0) {
    check.add(path, messages.divides("the image side", side, factor));
  }
}

/** Domains: the named data sets a pipeline mixes, either byte streams or labelled images. */

import { DataError } from "./errors.ts";
import type { PackingMode, PackingStats } from "./packing.ts";

/** Labelled square grayscale images: `images` is [n, side * side] in [0, 1], `labels` is [n]. */
export interface ImageSet {
  images: Float32Array;
  labels: Int32Array;
  side: number;
}

/** A stream of token ids: UTF-8 bytes, or the ids of a tokenizer (documents packed with EOS between them). */
export type TokenStream = Uint8Array | Int32Array;

/**
 * A text domain: token streams; an LM example is a window of context + 1 ids of `train`. Supervised examples
 * (packed so none crosses a window) also say which ids are targets the loss counts.
 */
export interface TextDomain {
  name: string;
  kind: "text";
  train: TokenStream;
  validation: TokenStream;
  /** For examples: 1 where the id of `train` is a response token the loss counts; unset, every id counts. */
  trainMask?: Uint8Array;
  /** The same for `validation`. */
  validationMask?: Uint8Array;
  /**
   * Examples packed with `packing: isolate`: 1 where a segment of `train` starts (each example, and the ids
   * after it); a window's positions restart at 0 there and its attention stays within a segment.
   */
  trainStarts?: Uint8Array;
  /** The same for `validation`. */
  validationStarts?: Uint8Array;
  /** For examples: how packing went, per split, and the mode. */
  packing?: { train: PackingStats; validation?: PackingStats; mode?: PackingMode };
  /**
   * For examples: the held-out examples unpacked (the validation split's, or every kept example when there
   * is none), which generation tasks score one by one.
   */
  heldOut?: HeldOutExamples;
}

/** Examples back to back: example i is ids [offsets[i], offsets[i + 1]), `trained` 1 on its response tokens. */
export interface HeldOutExamples {
  ids: Int32Array;
  offsets: Float64Array;
  trained: Uint8Array;
}

/** An image domain: training images plus a held-out validation set of the same side. */
export interface ImageDomain {
  name: string;
  kind: "images";
  images: Float32Array;
  labels: Int32Array;
  side: number;
  validation: { images: Float32Array; labels: Int32Array };
}

/** Raw text of one domain before splitting: documents of UTF-8 bytes, or of token ids given pre-tokenized. */
export interface TextCorpus {
  name: string;
  documents: (Uint8Array | Int32Array)[];
}

/** A domain of either kind. */
export type Domain = TextDomain | ImageDomain;

/** Number of images in a set, checking that the arrays agree with `side`. */
export function imageCount(set: ImageSet, name = "images"): number {
  const pixels = set.side * set.side;
  if (!Number.isInteger(set.side) || set.side <= 0) {
    throw new DataError(`${name}: side must be a positive integer, found ${set.side}`);
  }
  if (set.images.length !== set.labels.length * pixels) {
    throw new DataError(
      `${name}: ${set.labels.length} labels need ${set.labels.length * pixels} pixels ` +
        `(${set.side} x ${set.side} each), found ${set.images.length}`,
    );
  }
  return set.labels.length;
}

/**
 * Non-overlapping LM windows in `bytes`: window j covers bytes [j * context, j * context + context], i.e.
 * context + 1 bytes (inputs and shifted targets), so consecutive windows share one byte.
 * That is floor((bytes - 1) / context), one less than floor(bytes / context) at exact multiples.
 */
export function textWindows(bytes: number, context: number): number {
  if (!Number.isSafeInteger(context) || context <= 0) {
    throw new RangeError(`context must be a positive integer, found ${context}`);
  }
  return bytes > context ? Math.floor((bytes - 1) / context) : 0;
}

/** A domain's size for mixing, in examples: LM windows for text (needs `context`), images otherwise. */
export function domainSize(domain: Domain, context?: number): number {
  if (domain.kind === "images") {
    const n = imageCount(domain, `domain "${domain.name}"`);
    if (n === 0) throw new DataError(`domain "${domain.name}" is empty: it has 0 training images`);
    return n;
  }
  if (context === undefined) {
    throw new RangeError(`domain "${domain.name}" is text: its size in examples needs the model's context`);
  }
  const n = textWindows(domain.train.length, context);
  if (n === 0) {
    throw new DataError(
      `domain "${domain.name}" is empty: it has ${domain.train.length} training bytes, fewer than one ` +
        `window of context + 1 = ${context + 1} bytes`,
    );
  }
  return n;
}

/** Sizes of several domains, checking that they are of one kind (and one image side). */
export function domainSizes(domains: readonly Domain[], context?: number): number[] {
  if (domains.length === 0) throw new DataError("a mix needs at least one domain, found none");
  const kind = domains[0].kind;
  for (const d of domains) {
    if (d.kind !== kind) {
      throw new DataError(
        `domains must all be of one kind: "${domains[0].name}" is ${kind}, "${d.name}" is ${d.kind}`,
      );
    }
    if (d.kind === "images" && domains[0].kind === "images" && d.side !== domains[0].side) {
      throw new DataError(
        `image domains must share one side: "${domains[0].name}" is ${
          domains[0].side
        }, "${d.name}" is ${d.side}`,
      );
    }
  }
  const names = new Set<string>();
  for (const d of domains) {
    if (names.has(d.name)) throw new DataError(`domain names must be unique, found "${d.name}" twice`);
    names.add(d.name);
  }
  return domains.map((d) => domainSize(d, context));
}

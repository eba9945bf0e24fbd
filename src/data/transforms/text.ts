/** Text transforms: take a prefix, keep a fraction, split off the end of each document for validation. */

import { DataError } from "../errors.ts";
import type { TextDomain, TokenStream } from "../domain.ts";

const NEWLINE = 0x0a;

/** The first `count` bytes of `bytes`; asking for more than there are is an error. */
export function takeBytes<T extends TokenStream>(bytes: T, count: number, name = "text"): T {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`take count must be a non-negative integer, found ${count}`);
  }
  if (count > bytes.length) {
    throw new DataError(`take ${count} bytes asks for more than "${name}" has (${bytes.length} bytes)`);
  }
  return bytes.slice(0, count) as T;
}

/** The first floor(fraction * length) bytes; fraction in (0, 1]. */
export function fractionBytes<T extends TokenStream>(bytes: T, fraction: number): T {
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new RangeError(`fraction must be in (0, 1], found ${fraction}`);
  }
  return bytes.slice(0, Math.floor(fraction * bytes.length)) as T;
}

/** Concatenates byte streams with one newline between consecutive ones. */
export function joinDocuments(documents: readonly Uint8Array[]): Uint8Array {
  const total = documents.reduce((a, d) => a + d.length, 0) + Math.max(0, documents.length - 1);
  const out = new Uint8Array(total);
  let at = 0;
  documents.forEach((d, i) => {
    if (i > 0) out[at++] = NEWLINE;
    out.set(d, at);
    at += d.length;
  });
  return out;
}

/** Training and validation streams. */
export interface TextSplit {
  train: Uint8Array;
  validation: Uint8Array;
}

/**
 * Holds out the END of each document: its last round(validationFraction * length) bytes go to validation,
 * the rest to training; each side joins its parts with newlines. Keeping validation after training text
 * avoids scoring the model on windows that overlap what it trained on.
 */
export function splitText(
  documents: Uint8Array | readonly Uint8Array[],
  validationFraction: number,
): TextSplit {
  if (!Number.isFinite(validationFraction) || validationFraction < 0 || validationFraction >= 1) {
    throw new RangeError(`validation fraction must be in [0, 1), found ${validationFraction}`);
  }
  const docs = documents instanceof Uint8Array ? [documents] : documents;
  const train: Uint8Array[] = [];
  const validation: Uint8Array[] = [];
  for (const d of docs) {
    const cut = d.length - Math.round(validationFraction * d.length);
    train.push(d.subarray(0, cut));
    if (cut < d.length) validation.push(d.subarray(cut));
  }
  return { train: joinDocuments(train), validation: joinDocuments(validation) };
}

/** A text domain from documents, with the end of each held out; an empty training stream is an error. */
export function textDomain(
  name: string,
  documents: Uint8Array | readonly Uint8Array[],
  validationFraction = 0,
): TextDomain {
  const { train, validation } = splitText(documents, validationFraction);
  if (train.length === 0) throw new DataError(`domain "${name}" is empty: it has 0 training bytes`);
  return { name, kind: "text", train, validation };
}

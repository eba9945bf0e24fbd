/** Text domains from a tokenized corpus: a stream of documents, or supervised examples packed into windows. */
import type { TokenCorpus } from "./corpus.ts";
import type { HeldOutExamples, TextDomain, TokenStream } from "./domain.ts";
import { DataError } from "./errors.ts";
import { packExamples, type PackingMode } from "./packing.ts";

/** What is kept of a corpus and how its examples are laid out. */
export interface ExampleDomainOptions {
  /** Keep the first `take` examples. */
  take?: number;
  /** Keep the first floor(fraction * n) examples. */
  fraction?: number;
  /** The last round(validation * n) examples (after take/fraction) are held out. */
  validation: number;
  context: number;
  packing: PackingMode;
  /** The id of padding (never trained). */
  pad: number;
}

/**
 * A domain of supervised examples: take/fraction count examples, the split holds out the last examples, and
 * each side is packed on its own (`packExamples`), so no validation window holds a training example.
 */
export function exampleDomain(name: string, corpus: TokenCorpus, options: ExampleDomainOptions): TextDomain {
  const trained = corpus.trained;
  if (trained === undefined) throw new TypeError(`exampleDomain: "${name}" holds documents, not examples`);
  let n = corpus.offsets.length - 1;
  if (options.take !== undefined) {
    if (options.take > n) {
      throw new DataError(`take ${options.take} asks for more examples than domain "${name}" has (${n})`);
    }
    n = options.take;
  }
  if (options.fraction !== undefined) n = Math.floor(options.fraction * n);
  const held = Math.round(options.validation * n);
  const pack = (first: number, last: number) =>
    packExamples(
      corpus.ids,
      corpus.offsets,
      trained,
      { first, last },
      options.context,
      options.packing,
      options.pad,
    );
  const train = pack(0, n - held);
  if (train.stats.examples === 0 || train.stats.trainedTokens === 0) {
    throw new DataError(
      `domain "${name}" is empty: none of its ${
        n - held
      } training examples has a response token within a window ` +
        `of context + 1 = ${options.context + 1} tokens`,
    );
  }
  const domain: TextDomain = {
    name,
    kind: "text",
    train: train.ids,
    trainMask: train.trained,
    validation: new Int32Array(0),
    packing: { train: train.stats, mode: options.packing },
  };
  if (train.starts) domain.trainStarts = train.starts;
  domain.heldOut = held > 0 ? examplesOf(corpus, n - held, n) : examplesOf(corpus, 0, n);
  if (held > 0) {
    const v = pack(n - held, n);
    domain.validation = v.ids;
    domain.validationMask = v.trained;
    if (v.starts) domain.validationStarts = v.starts;
    domain.packing!.validation = v.stats;
  }
  return domain;
}

/** Copies examples [first, last) of a corpus. */
function examplesOf(corpus: TokenCorpus, first: number, last: number): HeldOutExamples {
  const start = corpus.offsets[first];
  const end = corpus.offsets[last];
  return {
    ids: Int32Array.from(corpus.ids.subarray(start, end)),
    offsets: corpus.offsets.slice(first, last + 1).map((o) => o - start),
    trained: corpus.trained!.slice(start, end),
  };
}

/** The first `count` ids of a stream (a view); asking for more than there are is an error. */
export function takeTokens<T extends TokenStream>(ids: T, count: number, name: string): T {
  if (count > ids.length) {
    const unit = ids instanceof Uint8Array ? "bytes" : "tokens";
    throw new DataError(`take ${count} ${unit} asks for more than "${name}" has (${ids.length} ${unit})`);
  }
  return ids.subarray(0, count) as T;
}

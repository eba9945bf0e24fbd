/**
 * Sequence packing: tokenized documents joined into one stream with the EOS id after each document, then cut
 * into fixed windows of context + 1 ids (inputs and shifted targets) that share one id with the next window,
 * as `textWindows` counts them. Windows cross document boundaries and the loss is not masked there: the
 * model learns to predict EOS at a document's end and, after EOS, the next document's first token (GPT-2's
 * packing). `boundaries` marks where each document starts, for a caller that wants to mask or reset.
 */
import { type TextDomain, textWindows } from "./domain.ts";
import { DataError } from "./errors.ts";

/** A packed stream of token ids. */
export interface PackedStream {
  /** Every document's ids, each followed by `eos`. */
  ids: Int32Array;
  /** Offset in `ids` of each document's first id. */
  boundaries: Int32Array;
}

/** Joins documents with `eos` after each one; every id must be in [0, vocabSize). */
export function packDocuments(
  docs: readonly (readonly number[])[],
  eos: number,
  vocabSize: number,
): PackedStream {
  if (!(Number.isInteger(eos) && eos >= 0 && eos < vocabSize)) {
    throw new DataError(`the EOS id must be an integer in [0, ${vocabSize}), found ${eos}`);
  }
  const total = docs.reduce((n, d) => n + d.length + 1, 0);
  const ids = new Int32Array(total);
  const boundaries = new Int32Array(docs.length);
  let at = 0;
  docs.forEach((doc, i) => {
    boundaries[i] = at;
    for (let j = 0; j < doc.length; j++) {
      const id = doc[j];
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
        throw new DataError(`document ${i}, token ${j}: id ${id} is outside [0, ${vocabSize})`);
      }
      ids[at++] = id;
    }
    ids[at++] = eos;
  });
  return { ids, boundaries };
}

/** Window `index` of a packed stream: inputs `ids[s, s + context)` and targets `ids[s + 1, s + context]`. */
export function packedWindow(
  stream: PackedStream,
  context: number,
  index: number,
): { inputs: Int32Array; targets: Int32Array } {
  const count = textWindows(stream.ids.length, context);
  if (!(Number.isInteger(index) && index >= 0 && index < count)) {
    throw new RangeError(`window ${index} is outside [0, ${count}) for ${stream.ids.length} ids`);
  }
  const s = index * context;
  return { inputs: stream.ids.slice(s, s + context), targets: stream.ids.slice(s + 1, s + context + 1) };
}

/**
 * A text domain from a packed stream: the last round(validationFraction * length) ids are held out for
 * validation (after the training ids, so no validation window overlaps training text).
 */
export function tokenDomain(name: string, ids: Int32Array, validationFraction = 0): TextDomain {
  if (!Number.isFinite(validationFraction) || validationFraction < 0 || validationFraction >= 1) {
    throw new RangeError(`validation fraction must be in [0, 1), found ${validationFraction}`);
  }
  const cut = ids.length - Math.round(validationFraction * ids.length);
  if (cut === 0) throw new DataError(`domain "${name}" is empty: it has 0 training tokens`);
  return { name, kind: "text", train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}

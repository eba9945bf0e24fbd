/**
 * Sequence packing: tokenized documents joined into one stream with the EOS id after each document, then cut
 * into fixed windows of context + 1 ids (inputs and shifted targets) that share one id with the next window,
 * as `textWindows` counts them. Windows cross document boundaries and the loss is not masked there: the
 * model learns to predict EOS at a document's end and, after EOS, the next document's first token (GPT-2's
 * packing). `boundaries` marks where each document starts, for a caller that wants to mask or reset.
 */
import { type TextDomain, textWindows, type TokenStream } from "./domain.ts";
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
export function tokenDomain(name: string, ids: TokenStream, validationFraction = 0): TextDomain {
  if (!Number.isFinite(validationFraction) || validationFraction < 0 || validationFraction >= 1) {
    throw new RangeError(`validation fraction must be in [0, 1), found ${validationFraction}`);
  }
  const cut = ids.length - Math.round(validationFraction * ids.length);
  if (cut === 0) {
    throw new DataError(
      `domain "${name}" is empty: it has 0 training ${ids instanceof Uint8Array ? "bytes" : "tokens"}`,
    );
  }
  return { name, kind: "text", train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}

/**
 * How supervised examples are laid into windows: several whole examples per window ("pack"), one per window
 * ("pad"), or packed as "pack" does with each example's positions restarting at 0 and its attention kept
 * within itself ("isolate": a block-diagonal causal mask, so an example is computed as if it were alone).
 */
export type PackingMode = "pack" | "pad" | "isolate";

/** What packing examples gave: counted by the plan. */
export interface PackingStats {
  /** Examples in the stream. */
  examples: number;
  /** Examples longer than a window (context + 1 ids), cut to fit. */
  truncated: number;
  /** Examples with no response token within a window (none at all, or cut off): not used. */
  dropped: number;
  /** Ids the loss counts (response tokens). */
  trainedTokens: number;
  /** Ids of the stream, padding included. */
  tokens: number;
  /** Share of the stream that is example ids rather than padding, in [0, 1]. */
  efficiency: number;
}

/** A stream of packed examples: ids, which of them the loss counts, and counts for the plan. */
export interface PackedExamples {
  ids: Int32Array | Uint8Array;
  trained: Uint8Array;
  /** "isolate" only: 1 where a segment starts (an example's first id, and the id after each example). */
  starts?: Uint8Array;
  stats: PackingStats;
}

/**
 * Lays examples [first, last) of a corpus into windows of context + 1 ids (window j covers
 * [j * context, j * context + context], as `textWindows` counts them) so that no example crosses a window:
 * "pack" (and "isolate") puts as many whole examples in a window as fit, in order; "pad" one example per
 * window. The rest of a window is padding (`pad` id, never trained). An example's first id is never trained, so
 * the loss never predicts one example from the one before it. Longer examples are cut to one window.
 * "isolate" also marks where segments start (see `segmentPositions`): each example, and each run of ids
 * after one (padding, or the next example), so padding never joins an example.
 */
export function packExamples(
  ids: Int32Array | Uint8Array,
  offsets: Float64Array,
  trained: Uint8Array,
  range: { first: number; last: number },
  context: number,
  mode: PackingMode,
  pad: number,
): PackedExamples {
  if (!Number.isSafeInteger(context) || context <= 0) {
    throw new RangeError(`context must be a positive integer, found ${context}`);
  }
  const window = context + 1;
  const starts: number[] = [];
  const lengths: number[] = [];
  const stats: PackingStats = {
    examples: 0,
    truncated: 0,
    dropped: 0,
    trainedTokens: 0,
    tokens: 0,
    efficiency: 0,
  };
  let p = 0; // first free position
  let minWindow = 0;
  for (let e = range.first; e < range.last; e++) {
    const from = offsets[e];
    const full = offsets[e + 1] - from;
    const length = Math.min(full, window);
    let any = 0;
    for (let i = 1; i < length; i++) any |= trained[from + i];
    if (!any) {
      // nothing to learn within a window (all prompt, or the response cut off)
      stats.dropped++;
      continue;
    }
    if (full > window) stats.truncated++;
    let start = Math.max(p, minWindow * context);
    let j = start % context === 0 ? start / context : Math.floor(start / context);
    if (start + length - 1 > j * context + context) {
      j++;
      start = j * context;
    }
    starts.push(from, start);
    lengths.push(length);
    p = start + length;
    minWindow = mode === "pad" ? j + 1 : j;
  }
  // the stream ends on a window's last id, so the last window is whole
  const windows = Math.max(1, Math.ceil((p - 1) / context));
  const total = windows * context + 1;
  const out = ids instanceof Uint8Array ? new Uint8Array(total) : new Int32Array(total);
  out.fill(pad);
  const mask = new Uint8Array(total);
  const segments = mode === "isolate" ? new Uint8Array(total) : undefined;
  let used = 0;
  for (let k = 0; k < lengths.length; k++) {
    const from = starts[2 * k];
    const at = starts[2 * k + 1];
    out.set(ids.subarray(from, from + lengths[k]), at);
    mask.set(trained.subarray(from, from + lengths[k]), at);
    mask[at] = 0;
    used += lengths[k];
    if (segments) {
      segments[at] = 1;
      if (at + lengths[k] < total) segments[at + lengths[k]] = 1;
    }
  }
  for (let i = 0; i < total; i++) stats.trainedTokens += mask[i];
  stats.examples = lengths.length;
  stats.tokens = total;
  stats.efficiency = used / total;
  return { ids: out, trained: mask, ...(segments ? { starts: segments } : {}), stats };
}

/**
 * Per-token positions of window `index` (ids [index * context, index * context + context)) of a stream whose
 * segments start where `starts` is 1: 0 at a segment's first id and at the window's first id, counting up
 * within a segment. Written into `out` from `at`.
 */
export function segmentPositions(
  starts: Uint8Array,
  index: number,
  context: number,
  out: Float32Array,
  at: number,
): void {
  const s = index * context;
  let p = 0;
  for (let t = 0; t < context; t++) {
    p = t === 0 || starts[s + t] ? 0 : p + 1;
    out[at + t] = p;
  }
}

/** Positions 0..T-1 in each of `rows` rows: what a window holding one sequence has. */
export function plainPositions(rows: number, T: number): Float32Array {
  const out = new Float32Array(rows * T);
  for (let r = 0; r < rows; r++) for (let t = 0; t < T; t++) out[r * T + t] = t;
  return out;
}

/** Batch builders: turn a sampler's {@link Draw} into the typed arrays a training step uploads. */

import { type ImageDomain, type TextDomain, textWindows, type TokenStream } from "./domain.ts";
import { DataError } from "./errors.ts";
import { segmentPositions } from "./packing.ts";
import type { Draw } from "./sampler.ts";

/** Target of a position the loss does not count (a prompt token of a supervised example, or padding). */
export const IGNORE_LABEL = -1;

/**
 * A language-modelling batch: ids as floats, both [batch, context]; masked targets are IGNORE_LABEL. When some
 * domain isolates its examples, `positions` [batch, context] too (0..context-1 in other domains' rows).
 */
export interface TextBatch {
  tokens: Float32Array;
  targets: Float32Array;
  domain: Int32Array;
  weight: Float32Array;
  positions?: Float32Array;
}

/** An image batch: pixels [batch, side * side], labels [batch] (as floats), domain ids and loss weights. */
export interface ImageBatch {
  images: Float32Array;
  labels: Float32Array;
  domain: Int32Array;
  weight: Float32Array;
  side: number;
}

/**
 * Copies window `index` of `bytes` (bytes [index * context, index * context + context]) into row `row`; a
 * target whose `mask` is 0 becomes IGNORE_LABEL.
 */
function fillWindow(
  bytes: TokenStream,
  mask: Uint8Array | undefined,
  index: number,
  context: number,
  row: number,
  tokens: Float32Array,
  targets: Float32Array,
): void {
  const start = index * context;
  const base = row * context;
  for (let t = 0; t < context; t++) {
    tokens[base + t] = bytes[start + t];
    targets[base + t] = mask === undefined || mask[start + t + 1] ? bytes[start + t + 1] : IGNORE_LABEL;
  }
}

/** Positions of window `index` into row `row`: restarting at each segment with `starts`, else 0..context-1. */
function fillPositions(
  starts: Uint8Array | undefined,
  index: number,
  context: number,
  row: number,
  positions: Float32Array,
): void {
  if (starts) segmentPositions(starts, index, context, positions, row * context);
  else for (let t = 0; t < context; t++) positions[row * context + t] = t;
}

/** The text batch for `draw`: row b is window draw.index[b] of the training stream of domain draw.domain[b]. */
export function textBatch(domains: readonly TextDomain[], draw: Draw, context: number): TextBatch {
  const batch = draw.domain.length;
  const tokens = new Float32Array(batch * context);
  const targets = new Float32Array(batch * context);
  const positions = domains.some((d) => d.trainStarts) ? new Float32Array(batch * context) : undefined;
  const windows = domains.map((d) => textWindows(d.train.length, context));
  for (let b = 0; b < batch; b++) {
    const d = draw.domain[b];
    const index = draw.index[b];
    if (d < 0 || d >= domains.length || index < 0 || index >= windows[d]) {
      throw new RangeError(
        `draw row ${b} asks for window ${index} of domain ${d}, but there are ${domains.length} domains` +
          (d >= 0 && d < domains.length ? ` and "${domains[d].name}" has ${windows[d]} windows` : ""),
      );
    }
    fillWindow(domains[d].train, domains[d].trainMask, index, context, b, tokens, targets);
    if (positions) fillPositions(domains[d].trainStarts, index, context, b, positions);
  }
  const out: TextBatch = { tokens, targets, domain: draw.domain.slice(), weight: draw.weight.slice() };
  if (positions) out.positions = positions;
  return out;
}

/**
 * Validation windows of a byte stream, in order, as batches of at most `batch` rows (the last may be short);
 * targets whose `mask` is 0 are IGNORE_LABEL. With `starts` (isolated examples) each batch has their positions.
 */
export function* textValidationBatches(
  bytes: TokenStream,
  context: number,
  batch: number,
  mask?: Uint8Array,
  starts?: Uint8Array,
): Generator<{ tokens: Float32Array; targets: Float32Array; rows: number; positions?: Float32Array }> {
  const windows = textWindows(bytes.length, context);
  if (windows === 0) {
    throw new DataError(
      `validation stream has ${bytes.length} bytes, fewer than one window of context + 1 = ${context + 1}`,
    );
  }
  for (let first = 0; first < windows; first += batch) {
    const rows = Math.min(batch, windows - first);
    const tokens = new Float32Array(rows * context);
    const targets = new Float32Array(rows * context);
    for (let r = 0; r < rows; r++) fillWindow(bytes, mask, first + r, context, r, tokens, targets);
    if (!starts) {
      yield { tokens, targets, rows };
      continue;
    }
    const positions = new Float32Array(rows * context);
    for (let r = 0; r < rows; r++) fillPositions(starts, first + r, context, r, positions);
    yield { tokens, targets, rows, positions };
  }
}

/** The image batch for `draw`: row b is training image draw.index[b] of domain draw.domain[b]. */
export function imageBatch(domains: readonly ImageDomain[], draw: Draw): ImageBatch {
  if (domains.length === 0) throw new DataError("imageBatch needs at least one domain, found none");
  const side = domains[0].side;
  const pixels = side * side;
  for (const d of domains) {
    if (d.side !== side) {
      throw new DataError(
        `image domains must share one side: "${domains[0].name}" is ${side}, "${d.name}" is ${d.side}`,
      );
    }
  }
  const batch = draw.domain.length;
  const images = new Float32Array(batch * pixels);
  const labels = new Float32Array(batch);
  for (let b = 0; b < batch; b++) {
    const d = draw.domain[b];
    const index = draw.index[b];
    if (d < 0 || d >= domains.length || index < 0 || index >= domains[d].labels.length) {
      throw new RangeError(`draw row ${b} asks for image ${index} of domain ${d}, which does not exist`);
    }
    images.set(domains[d].images.subarray(index * pixels, (index + 1) * pixels), b * pixels);
    labels[b] = domains[d].labels[index];
  }
  return { images, labels, domain: draw.domain.slice(), weight: draw.weight.slice(), side };
}

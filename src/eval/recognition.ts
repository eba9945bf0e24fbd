/**
 * Recognition metrics from embeddings: closed-set identification against a class-mean gallery (rank-1) and
 * verification (TAR at fixed FAR) from cosine similarities of pairs. Embeddings are row-major [n, dim].
 */

import { Rng } from "../random.ts";

/** Inputs that cannot give a meaningful metric; the message says what was expected and found. */
export class EvalError extends RangeError {
  override name = "EvalError";
}

/** Rows scaled to unit length; rows of norm below 1e-12 are divided by 1e-12 (as PyTorch's F.normalize). */
export function l2Normalize(x: Float32Array, dim: number): Float32Array {
  const n = rows(x, dim, "embeddings");
  const out = new Float32Array(x.length);
  for (let r = 0; r < n; r++) {
    let sq = 0;
    for (let c = 0; c < dim; c++) sq += x[r * dim + c] ** 2;
    const inv = 1 / Math.max(Math.sqrt(sq), 1e-12);
    for (let c = 0; c < dim; c++) out[r * dim + c] = x[r * dim + c] * inv;
  }
  return out;
}

/** One unit-length template per class. */
export interface Gallery {
  /** Class labels, ascending; row k of `means` belongs to `classes[k]`. */
  classes: Int32Array;
  /** [classes, dim], unit rows. */
  means: Float32Array;
  dim: number;
}

/** Gallery of class templates: the mean of each class's L2-normalised embeddings, normalised again. */
export function classMeans(embeddings: Float32Array, labels: Int32Array, dim: number): Gallery {
  const n = rows(embeddings, dim, "gallery embeddings");
  sameCount(n, labels.length, "gallery");
  const unit = l2Normalize(embeddings, dim);
  const classes = Int32Array.from(new Set(labels)).sort();
  const index = new Map(Array.from(classes, (c, k) => [c, k]));
  const sums = new Float64Array(classes.length * dim);
  for (let i = 0; i < n; i++) {
    const k = index.get(labels[i])!;
    for (let c = 0; c < dim; c++) sums[k * dim + c] += unit[i * dim + c];
  }
  return { classes, means: l2Normalize(Float32Array.from(sums), dim), dim };
}

/**
 * Fraction of probes whose most similar gallery template (cosine; the first on ties) has the probe's
 * label. Closed set: every probe label must be in the gallery.
 */
export function rank1Accuracy(probes: Float32Array, probeLabels: Int32Array, gallery: Gallery): number {
  const { dim, classes, means } = gallery;
  const n = rows(probes, dim, "probe embeddings");
  sameCount(n, probeLabels.length, "probe");
  if (n === 0) throw new EvalError("rank-1 accuracy needs at least one probe");
  const known = new Set(classes);
  const unit = l2Normalize(probes, dim);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    if (!known.has(probeLabels[i])) {
      throw new EvalError(`probe ${i} has label ${probeLabels[i]}, which the gallery does not hold`);
    }
    let best = -Infinity;
    let bestClass = -1;
    for (let k = 0; k < classes.length; k++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += unit[i * dim + c] * means[k * dim + c];
      if (s > best) {
        best = s;
        bestClass = classes[k];
      }
    }
    if (bestClass === probeLabels[i]) correct++;
  }
  return correct / n;
}

/** A labelled set of embeddings. */
export interface LabelledEmbeddings {
  embeddings: Float32Array;
  labels: Int32Array;
}

/** Options of `verificationTar`. */
export interface VerificationOptions {
  /** False accept rates to report; default [1e-2, 1e-3]. */
  fars?: number[];
  /** Above this many pairs, a seeded sample of this many is drawn (with replacement); default 1,000,000. */
  maxPairs?: number;
  seed?: number;
  /** Pair every embedding with every one of this set (e.g. LR probes against HR images) instead of within. */
  against?: LabelledEmbeddings;
  /** Leave out FARs too small for the number of impostor pairs instead of throwing; default false. */
  skipUnmeasurable?: boolean;
}

/** TAR at one FAR: pairs scoring above `threshold` are accepted. */
export interface VerificationPoint {
  far: number;
  threshold: number;
  tar: number;
}

/** Verification results with the pair counts they rest on. */
export interface VerificationResult {
  genuine: number;
  impostor: number;
  /** True when the pairs were a random sample. */
  sampled: boolean;
  points: VerificationPoint[];
}

/**
 * Verification from cosine similarities. For each FAR the threshold is the (k+1)-th largest impostor score
 * with k = floor(FAR * impostors), so at most k impostors score above it; TAR is the fraction of genuine
 * pairs scoring above it. A FAR needs at least 1 / FAR impostor pairs to be measurable.
 */
export function verificationTar(
  set: LabelledEmbeddings,
  dim: number,
  options: VerificationOptions = {},
): VerificationResult {
  const { fars = [1e-2, 1e-3], maxPairs = 1_000_000, seed = 0, against } = options;
  const n = rows(set.embeddings, dim, "embeddings");
  sameCount(n, set.labels.length, "verification");
  const a = l2Normalize(set.embeddings, dim);
  const other = against ?? set;
  const m = rows(other.embeddings, dim, "'against' embeddings");
  sameCount(m, other.labels.length, "'against'");
  const b = against ? l2Normalize(against.embeddings, dim) : a;

  const genuine: number[] = [];
  const impostor: number[] = [];
  const score = (i: number, j: number): void => {
    let s = 0;
    for (let c = 0; c < dim; c++) s += a[i * dim + c] * b[j * dim + c];
    (set.labels[i] === other.labels[j] ? genuine : impostor).push(s);
  };
  const total = against ? n * m : (n * (n - 1)) / 2;
  const sampled = total > maxPairs;
  if (sampled) {
    const rng = new Rng(seed);
    for (let p = 0; p < maxPairs; p++) {
      const i = rng.int(n);
      let j = rng.int(against ? m : n - 1);
      if (!against && j >= i) j++; // a pair of distinct images
      score(i, j);
    }
  } else {
    for (let i = 0; i < n; i++) {
      for (let j = against ? 0 : i + 1; j < m; j++) score(i, j);
    }
  }
  if (genuine.length === 0) throw new EvalError(`no genuine pairs among ${genuine.length + impostor.length}`);
  impostor.sort((x, y) => y - x);
  const measurable = options.skipUnmeasurable
    ? fars.filter((far) => Math.floor(far * impostor.length) >= 1)
    : fars;
  const points = measurable.map((far): VerificationPoint => {
    if (!(far > 0 && far < 1)) throw new EvalError(`FAR must be in (0, 1), found ${far}`);
    const k = Math.floor(far * impostor.length);
    if (k < 1) {
      throw new EvalError(
        `FAR ${far} needs at least ${Math.ceil(1 / far)} impostor pairs, found ${impostor.length}`,
      );
    }
    const threshold = impostor[k];
    const accepted = genuine.reduce((count, s) => count + (s > threshold ? 1 : 0), 0);
    return { far, threshold, tar: accepted / genuine.length };
  });
  return { genuine: genuine.length, impostor: impostor.length, sampled, points };
}

function rows(x: Float32Array, dim: number, what: string): number {
  if (!(Number.isInteger(dim) && dim > 0)) {
    throw new EvalError(`dim must be a positive integer, found ${dim}`);
  }
  if (x.length % dim !== 0) {
    throw new EvalError(`${what} hold ${x.length} values, not a multiple of dim ${dim}`);
  }
  return x.length / dim;
}

function sameCount(n: number, labels: number, what: string): void {
  if (n !== labels) throw new EvalError(`${what} set has ${n} embeddings but ${labels} labels`);
}

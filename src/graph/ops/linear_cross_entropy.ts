/**
 * linearCrossEntropy: an output projection and softmax cross-entropy fused and chunked over the vocabulary
 * (the method of Liger Kernel's fused linear cross-entropy and of Cut Cross-Entropy): logits
 * z = hidden W^T + bias + a b^T are made one chunk of vocabulary rows at a time, folded into an online
 * log-sum-exp, and remade chunk by chunk for the backward, so no [N, vocab] buffer exists. Where that buffer
 * is no larger than the weight (N <= D), the logits are kept instead: made once, read by both passes.
 */
import { type Attrs, type Node, type Shape, ShapeError, showShape } from "../node.ts";
import { apply, defineOps } from "../op.ts";
import {
  CHUNK_ALIGN,
  forwardLowering,
  type LceLayout,
  leftLowering,
  logitsLowering,
  rightLowering,
  sizesOf,
  vocabChunks,
} from "./_lce_gpu.ts";
import { PIECE_BYTES } from "./_binding.ts";
import { reshape } from "./reshape.ts";
import { slice } from "./shape.ts";

/** The label value that marks a position without a target: no loss, no gradient, not counted. */
export const IGNORE_LABEL = -1;
export { CHUNK_ALIGN };
/**
 * Kept logits ([N, V] f32) stay within this many bytes by default: WebGPU's default binding limit, half its
 * default buffer limit (a bf16 weight no larger than them in elements is half their bytes).
 */
export const KEEP_BYTES = 128 * 1024 * 1024;
/** The default chunk keeps the logits of one chunk, [N, chunk] floats, within this many bytes. */
export const CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Vocabulary rows per chunk for N rows of width D and vocabulary V: [N, chunk] f32 within CHUNK_BYTES, a
 * chunk of the weight ([chunk, D] f32) within one binding (PIECE_BYTES), aligned.
 */
export function lossChunk(N: number, V: number, D = 1): number {
  const rows = Math.min(CHUNK_BYTES / (4 * Math.max(1, N)), PIECE_BYTES / (4 * Math.max(1, D)));
  const fit = Math.floor(rows / CHUNK_ALIGN) * CHUNK_ALIGN;
  return Math.max(CHUNK_ALIGN, Math.min(fit, Math.ceil(V / CHUNK_ALIGN) * CHUNK_ALIGN));
}

function layout(attrs: Attrs, backward: boolean): LceLayout {
  let k = backward ? 5 : 3;
  const at: LceLayout = { hidden: 0, weight: 1, labels: 2 };
  if (backward) [at.fwd, at.g] = [3, 4];
  if (attrs.bias === true) at.bias = k++;
  if (attrs.lowRank === true) [at.a, at.b] = [k++, k++];
  if (attrs.kept === true) at.logits = k++;
  return at;
}

function checkShapes(shapes: readonly Shape[], attrs: Attrs, backward: boolean): void {
  const at = layout(attrs, backward);
  const [h, W, labels] = [shapes[at.hidden], shapes[at.weight], shapes[at.labels]];
  const show = `hidden ${showShape(h)}, weight ${showShape(W)}, labels ${showShape(labels)}`;
  const ok = h.length === 2 && W.length === 2 && W[1] === h[1] && W[0] > 0 && labels.length === 1 &&
    labels[0] === h[0];
  if (!ok) {
    throw new ShapeError(`linearCrossEntropy: expects hidden [N, D], weight [V, D], labels [N]; ${show}`);
  }
  if (at.bias !== undefined && shapes[at.bias].join() !== [W[0]].join()) {
    throw new ShapeError(`linearCrossEntropy: bias ${showShape(shapes[at.bias])} must be [${W[0]}]; ${show}`);
  }
  if (at.a !== undefined) {
    const [a, b] = [shapes[at.a], shapes[at.b!]];
    if (a.length !== 2 || b.length !== 2 || a[0] !== h[0] || b[0] !== W[0] || a[1] !== b[1]) {
      throw new ShapeError(
        `linearCrossEntropy: low-rank a ${showShape(a)} and b ${showShape(b)} must be [${h[0]}, r] and ` +
          `[${W[0]}, r]; ${show}`,
      );
    }
  }
  if (at.logits !== undefined && shapes[at.logits].join() !== [h[0] * W[0]].join()) {
    throw new ShapeError(
      `linearCrossEntropy: kept logits ${showShape(shapes[at.logits])} must be [${h[0] * W[0]}]; ${show}`,
    );
  }
  for (const k of [at.fwd, at.g]) {
    if (k !== undefined && shapes[k].join() !== [h[0], 3].join()) {
      throw new ShapeError(`linearCrossEntropy backward: ${showShape(shapes[k])} must be [${h[0]}, 3]`);
    }
  }
  const chunk = attrs.chunk as number;
  if (!(Number.isInteger(chunk) && chunk > 0 && chunk % CHUNK_ALIGN === 0)) {
    throw new RangeError(
      `linearCrossEntropy: chunk must be a positive multiple of ${CHUNK_ALIGN}, found ${chunk}`,
    );
  }
}

/** Row r's label: an id in [0, V), or -1 when ignored; the float64 reference rejects anything else. */
function labelOf(labels: Float64Array, r: number, V: number): number {
  const l = labels[r];
  if (l === IGNORE_LABEL || (Number.isInteger(l) && l >= 0 && l < V)) return l;
  throw new RangeError(
    `linearCrossEntropy: label ${l} of row ${r} is neither a vocabulary id in [0, ${V}) nor ${IGNORE_LABEL}`,
  );
}

/** float64 logits [N, V] of hidden W^T + bias + a b^T. */
function logits(ins: readonly Float64Array[], shapes: readonly Shape[], at: LceLayout): Float64Array {
  const [N, D] = shapes[at.hidden];
  const V = shapes[at.weight][0];
  const r = at.a === undefined ? 0 : shapes[at.a][1];
  const [h, W] = [ins[at.hidden], ins[at.weight]];
  const z = new Float64Array(N * V);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < V; j++) {
      let s = at.bias === undefined ? 0 : ins[at.bias][j];
      for (let d = 0; d < D; d++) s += h[i * D + d] * W[j * D + d];
      for (let k = 0; k < r; k++) s += ins[at.a!][i * r + k] * ins[at.b!][j * r + k];
      z[i * V + j] = s;
    }
  }
  return z;
}

function logSumExp(z: Float64Array, i: number, V: number): number {
  let m = -Infinity;
  for (let j = 0; j < V; j++) m = Math.max(m, z[i * V + j]);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(z[i * V + j] - m);
  return m + Math.log(s);
}

/** float64 gradient of the logits [N, V] given the gradients of the (loss, lse) columns. */
function logitGrad(ins: readonly Float64Array[], shapes: readonly Shape[], at: LceLayout): Float64Array {
  const [N] = shapes[at.hidden];
  const V = shapes[at.weight][0];
  const z = logits(ins, shapes, at);
  const g = ins[at.g!];
  for (let i = 0; i < N; i++) {
    const y = labelOf(ins[at.labels], i, V);
    const lse = logSumExp(z, i, V);
    const gl = y === IGNORE_LABEL ? 0 : g[i * 3];
    for (let j = 0; j < V; j++) {
      z[i * V + j] = (gl + g[i * 3 + 1]) * Math.exp(z[i * V + j] - lse) - (j === y ? gl : 0);
    }
  }
  return z;
}

/** out[rows x cols] = op(G) @ Y for G [N, V]: `left` G Y ([N, V] x [V, w]); else G^T X ([V, N] x [N, w]). */
function times(
  G: Float64Array,
  Y: Float64Array,
  N: number,
  V: number,
  w: number,
  left: boolean,
): Float64Array {
  const out = new Float64Array((left ? N : V) * w);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < V; j++) {
      const gij = G[i * V + j];
      if (gij === 0) continue;
      for (let c = 0; c < w; c++) {
        if (left) out[i * w + c] += gij * Y[j * w + c];
        else out[j * w + c] += gij * Y[i * w + c];
      }
    }
  }
  return out;
}

/** float64 logits in the kept layout: chunk after chunk, each chunk's [N, len] block row by row. */
function keptLogits(ins: readonly Float64Array[], shapes: readonly Shape[], attrs: Attrs): Float64Array {
  const at = layout(attrs, false);
  const [N] = shapes[at.hidden];
  const V = shapes[at.weight][0];
  const z = logits(ins, shapes, at);
  const out = new Float64Array(N * V);
  for (const { c0, len } of vocabChunks(V, Math.min(chunkOf(attrs), V))) {
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < len; j++) out[N * c0 + i * len + j] = z[i * V + c0 + j];
    }
  }
  return out;
}

const chunkOf = (attrs: Attrs) => attrs.chunk as number;
const extras = (n: Node) => n.inputs.slice(3);

defineOps(
  {
    // the kept logits [N * V] (inputs as the loss's, without the kept logits); no gradient flows through
    // them: the loss's own rules give its inputs' gradients
    name: "linear_cross_entropy_logits",
    shape: (shapes, attrs) => {
      checkShapes(shapes, attrs, false);
      return [shapes[0][0] * shapes[1][0]];
    },
    cpu: keptLogits,
    grad: (n) => n.inputs.map(() => null),
    gpu: (shapes, attrs, _out, half = []) => {
      const at = layout(attrs, false);
      return logitsLowering(at, sizesOf(at, shapes, chunkOf(attrs)), half);
    },
    halfInputs: [1],
  },
  {
    name: "linear_cross_entropy",
    shape: (shapes, attrs) => {
      checkShapes(shapes, attrs, false);
      return [shapes[0][0], 3];
    },
    cpu: (ins, shapes, attrs) => {
      const at = layout(attrs, false);
      const [N] = shapes[at.hidden];
      const V = shapes[at.weight][0];
      const z = logits(ins, shapes, at);
      const out = new Float64Array(N * 3);
      for (let i = 0; i < N; i++) {
        const y = labelOf(ins[at.labels], i, V);
        const lse = logSumExp(z, i, V);
        out[i * 3] = y === IGNORE_LABEL ? 0 : lse - z[i * V + y];
        out[i * 3 + 1] = lse;
        out[i * 3 + 2] = y === IGNORE_LABEL ? 0 : 1;
      }
      return out;
    },
    grad: (n, g) => {
      const [h, W, labels] = n.inputs;
      const ins = [h, W, labels, n, g, ...extras(n)];
      const left = (of: string) => apply("linear_cross_entropy_left", ins, { ...n.attrs, of });
      const right = (of: string) => apply("linear_cross_entropy_right", ins, { ...n.attrs, of });
      const out: (Node | null)[] = [left("weight"), right("weight"), null];
      if (n.attrs.bias === true) out.push(right("bias"));
      if (n.attrs.lowRank === true) out.push(left("low_rank"), right("low_rank"));
      if (n.attrs.kept === true) out.push(null); // the kept logits: a copy of what the rules above differentiate
      return out;
    },
    gpu: (shapes, attrs, _out, half = []) => {
      const at = layout(attrs, false);
      return forwardLowering(at, sizesOf(at, shapes, chunkOf(attrs)), half);
    },
    halfInputs: [1],
  },
  {
    // d hidden = G W, or d a = G b, with G the logits' gradient
    name: "linear_cross_entropy_left",
    shape: (shapes, attrs) => {
      checkShapes(shapes, attrs, true);
      const at = layout(attrs, true);
      return attrs.of === "weight" ? shapes[at.hidden] : shapes[at.a!];
    },
    cpu: (ins, shapes, attrs) => {
      const at = layout(attrs, true);
      const [N, D] = shapes[at.hidden];
      const V = shapes[at.weight][0];
      const G = logitGrad(ins, shapes, at);
      if (attrs.of === "weight") return times(G, ins[at.weight], N, V, D, true);
      return times(G, ins[at.b!], N, V, shapes[at.b!][1], true);
    },
    gpu: (shapes, attrs, _out, half = []) => {
      const at = layout(attrs, true);
      return leftLowering(at, sizesOf(at, shapes, chunkOf(attrs)), attrs.of as "weight" | "low_rank", half);
    },
    halfInputs: [1],
  },
  {
    // d weight = G^T hidden, d b = G^T a, d bias = column sums of G
    name: "linear_cross_entropy_right",
    shape: (shapes, attrs) => {
      checkShapes(shapes, attrs, true);
      const at = layout(attrs, true);
      return shapes[attrs.of === "weight" ? at.weight : attrs.of === "bias" ? at.bias! : at.b!];
    },
    cpu: (ins, shapes, attrs) => {
      const at = layout(attrs, true);
      const [N, D] = shapes[at.hidden];
      const V = shapes[at.weight][0];
      const G = logitGrad(ins, shapes, at);
      if (attrs.of === "weight") return times(G, ins[at.hidden], N, V, D, false);
      if (attrs.of === "low_rank") return times(G, ins[at.a!], N, V, shapes[at.a!][1], false);
      return times(G, new Float64Array(N).fill(1), N, V, 1, false);
    },
    gpu: (shapes, attrs, _out, half = []) => {
      const at = layout(attrs, true);
      const of = attrs.of as "weight" | "low_rank" | "bias";
      return rightLowering(at, sizesOf(at, shapes, chunkOf(attrs)), of, half);
    },
    halfInputs: [1],
  },
);

/** Options of `linearCrossEntropy`. */
export interface LinearCrossEntropyOptions {
  /** Added to every row's logits [V]. */
  bias?: Node;
  /** A low-rank term a b^T added to the logits: a [N, r], b [V, r] (a LoRA branch on the projection). */
  lowRank?: { a: Node; b: Node };
  /** Vocabulary rows per chunk, a multiple of 128; default `lossChunk(N, V)`. */
  chunk?: number;
  /**
   * Keep the [N, V] logits between the forward and the backward instead of making them again: one product
   * fewer per chunk for N * V more floats. Default: keep when that is no more than the weight's V * D and
   * within KEEP_BYTES.
   */
  keepLogits?: boolean;
}

/** Per-row results of `linearCrossEntropy`. */
export interface LinearCrossEntropy {
  /** Cross-entropy of each row [N]; 0 where the label is IGNORE_LABEL. */
  loss: Node;
  /** 1 where the row has a target, 0 where its label is IGNORE_LABEL [N]. */
  counted: Node;
}

/**
 * Per-row cross-entropy of the logits hidden [N, D] W^T (W [V, D]) + bias + a b^T against labels [N]
 * (vocabulary ids stored as floats, or IGNORE_LABEL), made `chunk` vocabulary rows at a time. Without
 * `keepLogits` the [N, V] logits are never held: each chunk is made again for the backward. Gradients reach
 * hidden, W, bias, a and b. On the GPU a label that is neither an id nor IGNORE_LABEL gives a NaN loss (and
 * NaN gradients).
 * @example
 * ```ts
 * import { input, param } from "../node.ts";
 * const h = input("h", [256, 64]);
 * const { loss } = linearCrossEntropy(h, param("embed", [50257, 64], true), input("labels", [256]));
 * ```
 */
export function linearCrossEntropy(
  hidden: Node,
  weight: Node,
  labels: Node,
  options: LinearCrossEntropyOptions = {},
): LinearCrossEntropy {
  const { bias, lowRank } = options;
  const chunk = options.chunk ?? lossChunk(hidden.shape[0], weight.shape[0], weight.shape[1]);
  const inputs = [
    hidden,
    weight,
    labels,
    ...(bias ? [bias] : []),
    ...(lowRank ? [lowRank.a, lowRank.b] : []),
  ];
  const attrs = { chunk, bias: bias !== undefined, lowRank: !!lowRank };
  const [N, D] = hidden.shape;
  const V = weight.shape[0];
  const kept = options.keepLogits ?? (N <= D && N * V * 4 <= KEEP_BYTES);
  if (kept) inputs.push(apply("linear_cross_entropy_logits", [...inputs], attrs));
  const out = apply("linear_cross_entropy", inputs, { ...attrs, kept });
  return { loss: reshape(slice(out, 1, 0, 1), [N]), counted: reshape(slice(out, 1, 2, 3), [N]) };
}

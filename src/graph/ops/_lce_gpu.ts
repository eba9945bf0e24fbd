/**
 * GPU lowering of the fused linear cross-entropy: the vocabulary in chunks of `chunk` rows of the weight,
 * each chunk's logits [N, chunk] made by the matmul kernels into one scratch buffer, folded into an online
 * log-sum-exp (forward) or turned into their gradient and multiplied out (backward). No [N, vocab] buffer,
 * unless the logits are kept: then one node makes every chunk's logits once, into a buffer the forward and
 * the backward both read, and nothing is made twice.
 */
import { withTextures } from "./_textured.ts";
import common from "../../../kernels/linear_cross_entropy.wgsl" with { type: "text" };
import statsBody from "../../../kernels/linear_cross_entropy_stats.wgsl" with { type: "text" };
import gradBody from "../../../kernels/linear_cross_entropy_grad.wgsl" with { type: "text" };
import gradInPlace from "../../../kernels/linear_cross_entropy_grad_in_place.wgsl" with { type: "text" };
import gradKept from "../../../kernels/linear_cross_entropy_grad_kept.wgsl" with { type: "text" };
import gradVec4Body from "../../../kernels/linear_cross_entropy_grad_vec4.wgsl" with { type: "text" };
import gradT4Body from "../../../kernels/linear_cross_entropy_grad_t4.wgsl" with { type: "text" };
import grad4 from "../../../kernels/_lce_grad4.wgsl" with { type: "text" };
import colsumBody from "../../../kernels/linear_cross_entropy_colsum.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import type { Shape } from "../node.ts";
import type { BindingRef, Half, KernelCall, Lowering } from "../op.ts";
import { type MatmulDims, plannedCall } from "./_matmul_plan.ts";
import { rowCall, rowKernel } from "./_rows.ts";

const statsSource = rowKernel(common + statsBody);
const gradSource = rowKernel(common + gradInPlace + gradBody);
const gradKeptSource = rowKernel(common + gradKept + gradBody);
const gradVec4Source = common + grad4 + gradVec4Body;
const gradT4Source = common + grad4 + gradT4Body;
const colsumSource = common + colsumBody;
const QUIET_NAN_BITS = 0x7fc00000;
/** Chunks are whole multiples of this many vocabulary rows, so every chunk's binding offset is aligned. */
export const CHUNK_ALIGN = 128;

/** Where an op's inputs sit: hidden, weight and labels first, then the optional bias and low-rank pair. */
export interface LceLayout {
  hidden: number;
  weight: number;
  labels: number;
  /** The forward's [N, 3] output and its gradient (backward ops only). */
  fwd?: number;
  g?: number;
  bias?: number;
  /** a [N, r] and b [V, r] of the low-rank term a b^T. */
  a?: number;
  b?: number;
  /** The kept logits [N * V], chunk after chunk (chunk k's [N, len] block from N * c0). */
  logits?: number;
}

/** Sizes of one application: N rows, vocabulary V, width D, low rank r (0 without), chunk rows C. */
export interface LceSizes {
  N: number;
  V: number;
  D: number;
  r: number;
  C: number;
}

/** One chunk of the vocabulary: ids c0 .. c0 + len - 1. */
export interface Chunk {
  c0: number;
  len: number;
  first: boolean;
  last: boolean;
}

/**
 * The vocabulary's chunks: C rows each, the last one split when its length is not a multiple of 4 and it is
 * longer than CHUNK_ALIGN rows: a multiple of CHUNK_ALIGN rows (vec4 products and gradients, aligned bindings),
 * then the rest (the scalar kernels). 50,257 ids in chunks of 16,384: ... 1,024 and 81.
 */
export function vocabChunks(V: number, C: number): Chunk[] {
  const spans: [number, number][] = [];
  for (let c0 = 0; c0 < V; c0 += C) {
    const len = Math.min(C, V - c0);
    const whole = Math.floor(len / CHUNK_ALIGN) * CHUNK_ALIGN;
    if (len % 4 !== 0 && whole > 0) spans.push([c0, whole], [c0 + whole, len - whole]);
    else spans.push([c0, len]);
  }
  return spans.map(([c0, len], i) => ({ c0, len, first: i === 0, last: i === spans.length - 1 }));
}

/** Rows c0.. of a [V, width] input as a binding; `half` when it is stored in 16 bits. */
function rowsOf(input: number, k: Chunk, width: number, half: Half): BindingRef {
  const bytes = half ? 2 : 4;
  return { in: input, offset: k.c0 * width * bytes, size: k.len * width * bytes };
}

/** A matmul call with its operands bound to `bind` (A, B, C, then addends) instead of the op's own. */
function product(
  d: Omit<MatmulDims, "batch" | "strideA" | "strideB">,
  bind: BindingRef[],
  periods: number[] = [],
  halfB: Half = false,
): KernelCall {
  const dims: MatmulDims = { ...d, batch: 1, strideA: 0, strideB: 0 };
  return { ...plannedCall(dims, periods, { halfB }), bind };
}

/** Chunk k's block of the kept logits. */
function keptOf(at: LceLayout, s: LceSizes, k: Chunk): BindingRef {
  return { in: at.logits!, offset: s.N * k.c0 * 4, size: s.N * k.len * 4 };
}

/** The calls writing chunk k's logits into `target` (scratch 1 holds the low-rank term when there is one). */
function logitCalls(at: LceLayout, s: LceSizes, k: Chunk, halfW: Half, target: BindingRef): KernelCall[] {
  const calls: KernelCall[] = [];
  const addends: BindingRef[] = [];
  const periods: number[] = [];
  if (at.a !== undefined && at.b !== undefined) {
    calls.push(product(
      { M: s.N, N: k.len, K: s.r, transA: false, transB: true },
      [{ in: at.a }, rowsOf(at.b, k, s.r, false), { scratch: 1, size: s.N * k.len * 4 }],
    ));
    addends.push({ scratch: 1, size: s.N * k.len * 4 });
    periods.push(s.N * k.len);
  }
  if (at.bias !== undefined) {
    addends.push({ in: at.bias, offset: k.c0 * 4, size: k.len * 4 });
    periods.push(k.len);
  }
  calls.push(product(
    { M: s.N, N: k.len, K: s.D, transA: false, transB: true },
    [{ in: at.hidden }, rowsOf(at.weight, k, s.D, halfW), target, ...addends],
    periods,
    halfW,
  ));
  return calls;
}

/** Scratch 0 for a chunk's logits or gradient, 1 for the low-rank term (when logits are made), then `extra`. */
function scratchOf(s: LceSizes, at: LceLayout, grad: boolean, extra: number[] = []): number[] {
  const made = at.logits === undefined;
  return [made || grad ? s.N * s.C : 1, made && s.r > 0 ? s.N * s.C : 1, ...extra];
}

/** The calls writing chunk k's logits into scratch 0, unless they are kept: their block of the kept buffer. */
function logitsAt(at: LceLayout, s: LceSizes, k: Chunk, half: readonly Half[]): {
  calls: KernelCall[];
  logits: BindingRef;
} {
  if (at.logits !== undefined) return { calls: [], logits: keptOf(at, s, k) };
  const logits = { scratch: 0, size: s.N * k.len * 4 };
  return { calls: logitCalls(at, s, k, half[at.weight] ?? false, logits), logits };
}

/** The kept logits [N * V]: every chunk's, each made once into its block. */
export function logitsLowering(at: LceLayout, s: LceSizes, half: readonly Half[]): Lowering {
  const calls = vocabChunks(s.V, s.C).flatMap((k) =>
    logitCalls(at, s, k, half[at.weight] ?? false, {
      out: true,
      offset: s.N * k.c0 * 4,
      size: s.N * k.len * 4,
    })
  );
  return { calls, scratch: [1, s.r > 0 ? s.N * s.C : 1] };
}

/** Forward: per row (loss, lse, counted) [N, 3]; scratch 2 holds the running (max, sum, label logit). */
export function forwardLowering(at: LceLayout, s: LceSizes, half: readonly Half[]): Lowering {
  const calls: KernelCall[] = [];
  for (const k of vocabChunks(s.V, s.C)) {
    const made = logitsAt(at, s, k, half);
    calls.push(...made.calls);
    const bind: BindingRef[] = [
      made.logits,
      { in: at.labels },
      { scratch: 2 },
      { out: true },
    ];
    const stats = rowCall("linear_cross_entropy", statsSource, s.N, k.len, bind, withC0(s, k));
    calls.push(withTextures(stats, ["logits"], [0]));
  }
  return { calls, scratch: scratchOf(s, at, false, [s.N * 3]) };
}

/** Whether chunk k's gradient is written transposed ([len, N]): kept logits, N and len multiples of 4. */
function transposedGrad(at: LceLayout, s: LceSizes, k: Chunk): boolean {
  return at.logits !== undefined && s.N % 4 === 0 && k.len % 4 === 0;
}

/**
 * The chunk's logits (made by `logitsAt`) turned into their gradient in scratch 0: in place, or from the kept
 * logits (read from a texture where the device prefers them), written transposed when `transposed` and
 * `transposedGrad` allow it.
 */
function gradCalls(
  at: LceLayout,
  s: LceSizes,
  k: Chunk,
  half: readonly Half[],
  transposed = false,
): KernelCall[] {
  const made = logitsAt(at, s, k, half);
  const G = { scratch: 0, size: s.N * k.len * 4 };
  const bind: BindingRef[] = [made.logits, { in: at.labels }, { in: at.fwd! }, { in: at.g! }];
  if (at.logits === undefined) {
    return [...made.calls, rowCall("linear_cross_entropy_grad", gradSource, s.N, k.len, bind, withC0(s, k))];
  }
  if (transposed && transposedGrad(at, s, k)) {
    const t4: KernelCall = {
      kernel: "linear_cross_entropy_grad_t4",
      source: gradT4Source,
      params: params([["u32", s.N], ["u32", k.len], ...withC0(s, k)]),
      workgroups: grid(s.N * k.len / 16, 64),
      bind: [...bind, G],
    };
    return [withTextures(t4, ["logits"], [0])];
  }
  const call: KernelCall = k.len % 4 === 0
    ? {
      kernel: "linear_cross_entropy_grad_vec4",
      source: gradVec4Source,
      params: params([["u32", s.N], ["u32", k.len], ...withC0(s, k)]),
      workgroups: grid(s.N * k.len / 4, 64),
      bind: [...bind, G],
    }
    : rowCall("linear_cross_entropy_grad_kept", gradKeptSource, s.N, k.len, [...bind, G], withC0(s, k));
  return [withTextures(call, ["logits"], [0])];
}

/**
 * Backward to the left operand: d hidden = G W (or d a = G b), summed over chunks. Chunk sums alternate
 * between the output and scratch 2 (each matmul adds the previous sum in its epilogue), arranged so the last
 * chunk writes the output.
 */
export function leftLowering(
  at: LceLayout,
  s: LceSizes,
  of: "weight" | "low_rank",
  half: readonly Half[],
): Lowering {
  const right = of === "weight" ? at.weight : at.b!;
  const width = of === "weight" ? s.D : s.r;
  const halfR = of === "weight" && (half[at.weight] ?? false);
  const all = vocabChunks(s.V, s.C);
  const calls: KernelCall[] = [];
  const target = (i: number): BindingRef => (all.length - 1 - i) % 2 === 0 ? { out: true } : { scratch: 2 };
  all.forEach((k, i) => {
    // a transposed gradient is read as a transposed A: G^T [len, N] along N, adjacent for adjacent lanes
    calls.push(...gradCalls(at, s, k, half, true));
    const G = { scratch: 0, size: s.N * k.len * 4 };
    const d = { M: s.N, N: width, K: k.len, transA: transposedGrad(at, s, k), transB: false };
    const prev = i === 0 ? [] : [target(i - 1)];
    calls.push(
      product(
        d,
        [G, rowsOf(right, k, width, halfR), target(i), ...prev],
        prev.length ? [s.N * width] : [],
        halfR,
      ),
    );
  });
  return { calls, scratch: scratchOf(s, at, true, [s.N * width]) };
}

/** Backward to the right operand: rows c0.. of d weight = G^T hidden (or d b = G^T a); the bias: column sums of G. */
export function rightLowering(
  at: LceLayout,
  s: LceSizes,
  of: "weight" | "low_rank" | "bias",
  half: readonly Half[],
): Lowering {
  const calls: KernelCall[] = [];
  const width = of === "weight" ? s.D : of === "low_rank" ? s.r : 1;
  for (const k of vocabChunks(s.V, s.C)) {
    calls.push(...gradCalls(at, s, k, half));
    const G = { scratch: 0, size: s.N * k.len * 4 };
    const rows: BindingRef = { out: true, offset: k.c0 * width * 4, size: k.len * width * 4 };
    if (of === "bias") {
      calls.push({
        kernel: "linear_cross_entropy_colsum",
        source: colsumSource,
        params: params([["u32", s.N], ["u32", k.len], ...withC0(s, k)]),
        workgroups: grid(k.len, 64),
        bind: [G, { out: true }],
      });
      continue;
    }
    const left = of === "weight" ? at.hidden : at.a!;
    const d = { M: k.len, N: width, K: s.N, transA: true, transB: false };
    calls.push(product(d, [G, { in: left }, rows]));
  }
  return { calls, scratch: scratchOf(s, at, true) };
}

/** The uniform fields after rows and len: chunk start, vocabulary, first/last flags, the NaN bits. */
function withC0(s: LceSizes, k: Chunk): Array<["u32", number]> {
  return [["u32", k.c0], ["u32", s.V], ["u32", k.first ? 1 : 0], ["u32", k.last ? 1 : 0], [
    "u32",
    QUIET_NAN_BITS,
  ]];
}

/** Sizes of an application from its input shapes. */
export function sizesOf(at: LceLayout, shapes: readonly Shape[], chunk: number): LceSizes {
  const [N, D] = shapes[at.hidden];
  const V = shapes[at.weight][0];
  const r = at.a === undefined ? 0 : shapes[at.a][1];
  return { N, V, D, r, C: Math.min(chunk, V) };
}

/** matmul (batched, with transposes by indexing) and the linear layer built on it. */
import { type Attrs, type Node, type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps } from "../op.ts";
import { add, geluDerivative, geluGrad } from "./elementwise.ts";
import {
  foldBatch,
  type MatmulBlock,
  matmulCall,
  type MatmulDims,
  matmulDims,
  plannedCall,
  vectorizable,
  weightPieceCalls,
} from "./_matmul_plan.ts";
import { sum, sumTo } from "./reduce.ts";
import { reshape } from "./reshape.ts";

/** Which operands enter transposed: `transA` reads a [..., K, M] as its transpose, `transB` b [..., N, K]. */
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

defineOps({
  name: "matmul",
  shape: ([a, b], attrs) => matmulDims(a, b, attrs.transA === true, attrs.transB === true).out,
  cpu: ([a, b], [sa, sb], attrs) => product(a, b, sa, sb, attrs),
  grad: (node, g) => matmulGrads(node, g),
  gpu: ([a, b], attrs, out, half) => {
    if (sizeOf(out) === 0) return { calls: [] };
    const d = foldBatch(matmulDims(a, b, attrs.transA === true, attrs.transB === true).dims);
    // `block` pins a kernel variant (tests and the tuning bench); normally the cost model picks one.
    const pinned = attrs.block as MatmulBlock | undefined;
    const halfB = half?.[1] ?? false;
    // a weight over one binding (a tied output projection) is read in pieces of rows; `pieceBytes`: tests
    const pieces = weightPieceCalls(d, pinned, halfB, attrs.pieceBytes as number | undefined);
    return {
      calls: pieces ?? [pinned ? matmulCall(d, pinned, [], { halfB }) : plannedCall(d, [], { halfB })],
    };
  },
  halfInputs: [1],
});

/** Addends `matmul_add` takes (bindings 4 and 5 of the matmul kernels). */
const MAX_ADDENDS = 2;

defineOps({
  name: "matmul_add",
  shape: ([a, b, ...addends], attrs) => {
    const { out } = matmulDims(a, b, attrs.transA === true, attrs.transB === true);
    if (addends.length < 1 || addends.length > MAX_ADDENDS) {
      throw new ShapeError(`matmul_add: takes 1 to ${MAX_ADDENDS} addends, found ${addends.length}`);
    }
    for (const c of addends) addendPeriod(c, out);
    return out;
  },
  cpu: ([a, b, ...addends], [sa, sb, ...sc], attrs, out) => {
    const y = product(a, b, sa, sb, attrs);
    addends.forEach((c, k) => {
      const period = addendPeriod(sc[k], out);
      for (let i = 0; i < y.length; i++) y[i] += c[i % period];
    });
    return y;
  },
  grad: (node, g) => [...matmulGrads(node, g), ...node.inputs.slice(2).map((c) => sumTo(g, c.shape))],
  gpu: ([a, b, ...addends], attrs, out, half) => {
    if (sizeOf(out) === 0) return { calls: [] };
    const d = foldBatch(matmulDims(a, b, attrs.transA === true, attrs.transB === true).dims);
    const periods = addends.map((c) => addendPeriod(c, out));
    return { calls: [plannedCall(d, periods, { halfB: half?.[1] ?? false })] };
  },
  halfInputs: [1],
});

// op(a) op(b) + a2 b2^T + addends, the second product accumulated before the epilogue: a LoRA up-projection
// (a2 = x A^T scaled, b2 = B [out, rank]) fused into the frozen product x W^T (see matmul2Add).
defineOps({
  name: "matmul2_add",
  shape: ([a, b, a2, b2, ...addends], attrs) => {
    const { out } = matmulDims(a, b, attrs.transA === true, attrs.transB === true);
    const second = matmulDims(a2, b2, false, true).out;
    if (second.join() !== out.join()) {
      throw new ShapeError(
        `matmul2_add: the second product's shape ${showShape(second)} differs from the first's ${
          showShape(out)
        }`,
      );
    }
    if (addends.length > MAX_ADDENDS) {
      throw new ShapeError(`matmul2_add: takes 0 to ${MAX_ADDENDS} addends, found ${addends.length}`);
    }
    for (const c of addends) addendPeriod(c, out);
    return out;
  },
  cpu: ([a, b, a2, b2, ...addends], [sa, sb, sa2, sb2, ...sc], attrs, out) => {
    const y = product(a, b, sa, sb, attrs);
    const y2 = product(a2, b2, sa2, sb2, { transB: true });
    for (let i = 0; i < y.length; i++) y[i] += y2[i];
    addends.forEach((c, k) => {
      const period = addendPeriod(sc[k], out);
      for (let i = 0; i < y.length; i++) y[i] += c[i % period];
    });
    return y;
  },
  grad: (node, g) => {
    const [a, b, a2, b2, ...addends] = node.inputs;
    return [
      ...gradsOf(a, b, node.attrs.transA === true, node.attrs.transB === true, g),
      ...gradsOf(a2, b2, false, true, g),
      ...addends.map((c) => sumTo(g, c.shape)),
    ];
  },
  gpu: ([a, b, a2, b2, ...addends], attrs, out, half) => {
    if (sizeOf(out) === 0) return { calls: [] };
    const [d, d2] = secondDims(a, b, a2, b2, attrs.transA === true, attrs.transB === true);
    if (!fusable(d, d2)) {
      throw new Error(
        `matmul2_add: no fused kernel for these shapes (M ${d.M}, K ${d.K}, N ${d.N}, K2 ${d2.K})`,
      );
    }
    const periods = addends.map((c) => addendPeriod(c, out));
    // `block` pins a kernel variant (tests); normally the cost model picks one.
    const pinned = attrs.block as MatmulBlock | undefined;
    const opts = { K2: d2.K, halfB: half?.[1] ?? false };
    return { calls: [pinned ? matmulCall(d, pinned, periods, opts) : plannedCall(d, periods, opts)] };
  },
  halfInputs: [1],
});

function secondDims(
  a: Shape,
  b: Shape,
  a2: Shape,
  b2: Shape,
  transA: boolean,
  transB: boolean,
): MatmulDims[] {
  return [foldBatch(matmulDims(a, b, transA, transB).dims), foldBatch(matmulDims(a2, b2, false, true).dims)];
}

/** Whether the vec4 kernel can run the second product with the first (see matmulCall). */
function fusable(d: MatmulDims, d2: MatmulDims): boolean {
  return vectorizable(d) && d.batch === 1 && !d.transA && d2.batch === 1 && d2.K % 4 === 0 &&
    d2.M === d.M && d2.N === d.N;
}

/**
 * op(a) op(b) + a2 b2^T + addends (at most two, each a trailing part of the output) as one kernel, when the
 * vec4 kernel can run both products (plain a, unbatched after folding, K2 % 4 == 0); else undefined, and the
 * caller composes matmuls and adds.
 */
export function matmul2Add(
  a: Node,
  b: Node,
  a2: Node,
  b2: Node,
  addends: readonly Node[],
  options: MatmulOptions = {},
): Node | undefined {
  const attrs = { transA: options.transA === true, transB: options.transB === true };
  const [d, d2] = secondDims(a.shape, b.shape, a2.shape, b2.shape, attrs.transA, attrs.transB);
  const { out } = matmulDims(a.shape, b.shape, attrs.transA, attrs.transB);
  if (!fusable(d, d2) || addends.length > MAX_ADDENDS || !addends.every((c) => fitsAddend(c.shape, out))) {
    return undefined;
  }
  return apply("matmul2_add", [a, b, a2, b2, ...addends], attrs);
}

// g * gelu'(x) where g = op(a) op(b): gelu's backward in the epilogue of the product that makes g.
defineOps({
  name: "matmul_gelu_grad",
  shape: ([a, b, x], attrs) => {
    const { out } = matmulDims(a, b, attrs.transA === true, attrs.transB === true);
    if (x.join() !== out.join()) {
      throw new ShapeError(
        `matmul_gelu_grad: x ${showShape(x)} must have the product's shape ${showShape(out)}`,
      );
    }
    return out;
  },
  cpu: ([a, b, x], [sa, sb], attrs) => {
    const g = product(a, b, sa, sb, attrs);
    for (let i = 0; i < g.length; i++) g[i] *= geluDerivative(x[i]);
    return g;
  },
  // No rule, as for gelu_grad: no model here needs second derivatives of gelu.
  gpu: ([a, b], attrs, out, half) => {
    if (sizeOf(out) === 0) return { calls: [] };
    const d = foldBatch(matmulDims(a, b, attrs.transA === true, attrs.transB === true).dims);
    return {
      calls: [plannedCall(d, [sizeOf(out)], { epi: "gelu_grad", halfB: half?.[1] ?? false })],
    };
  },
  halfInputs: [1],
});

/**
 * gelu's backward g * gelu'(x): one kernel with the product when g is a plain matmul (whose epilogue then
 * multiplies by gelu'(x)), else the elementwise kernel.
 */
export function geluGradOf(x: Node, g: Node): Node {
  if (g.op !== "matmul" || g.attrs.block !== undefined) return geluGrad(x, g);
  return apply("matmul_gelu_grad", [g.inputs[0], g.inputs[1], x], {
    transA: g.attrs.transA === true,
    transB: g.attrs.transB === true,
  });
}

/** float64 op(A) op(B), batched. */
function product(a: Float64Array, b: Float64Array, sa: Shape, sb: Shape, attrs: Attrs): Float64Array {
  const { dims: d } = matmulDims(sa, sb, attrs.transA === true, attrs.transB === true);
  const { M, N, K } = d;
  const out = new Float64Array(d.batch * M * N);
  for (let t = 0; t < d.batch; t++) {
    const oa = t * d.strideA, ob = t * d.strideB, oc = t * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          s += a[oa + (d.transA ? k * M + m : m * K + k)] * b[ob + (d.transB ? n * K + k : k * N + n)];
        }
        out[oc + m * N + n] = s;
      }
    }
  }
  return out;
}

/** Gradients of op(A) op(B) for A and B. */
function matmulGrads(node: Node, g: Node): Node[] {
  return gradsOf(node.inputs[0], node.inputs[1], node.attrs.transA === true, node.attrs.transB === true, g);
}

function gradsOf(a: Node, b: Node, transA: boolean, transB: boolean, g: Node): Node[] {
  // C = op(A) op(B): dA = g op(B)^T and dB = op(A)^T g, each written for the stored layout of A and B.
  const dA = (b: Node, g: Node) =>
    transA ? matmul(b, g, { transA: transB, transB: true }) : matmul(g, b, { transB: !transB });
  const dB = (a: Node, g: Node) =>
    transB ? matmul(g, a, { transA: true, transB: transA }) : matmul(a, g, { transA: !transA });
  // A 2-D operand beside a batched one serves the whole batch: its gradient sums over the batch.
  if (b.shape.length === 2 && a.shape.length > 2) {
    // With a plain A that sum is one 2-D product over the folded rows [batch * M, ...].
    return [dA(b, g), transA ? sumBatch(dB(a, g), b.shape) : dB(rows(a), rows(g))];
  }
  if (a.shape.length === 2 && b.shape.length > 2) return [sumBatch(dA(b, g), a.shape), dB(a, g)];
  return [dA(b, g), dB(a, g)];
}

/**
 * The period of an addend of `out` in `matmul_add`: its shape, leading 1s dropped, must be a non-empty
 * trailing part of out's shape (a bias [N], a table [T, N] under [B, T, N], or out's own shape).
 */
function addendPeriod(c: Shape, out: Shape): number {
  const own = c.slice(Math.max(0, c.findIndex((d) => d !== 1)));
  const fits = own.length > 0 && own.length <= out.length && own.length <= c.length &&
    own.join() === out.slice(out.length - own.length).join() && c.some((d) => d !== 1);
  if (!fits) {
    throw new ShapeError(
      `matmul_add: addend ${showShape(c)} must be a trailing part of the output ${showShape(out)}`,
    );
  }
  return sizeOf(own);
}

/**
 * matmul(a, b) + addends[0] + addends[1] ..., added in that order. Up to two addends shaped as a trailing
 * part of the output (a bias [N], the output's own shape) are added in the matmul's epilogue, one kernel;
 * others by `add` after it. Same values either way: each sum is rounded once, in the same order.
 */
export function matmulAdd(a: Node, b: Node, addends: readonly Node[], options: MatmulOptions = {}): Node {
  const attrs = { transA: options.transA === true, transB: options.transB === true };
  const { out } = matmulDims(a.shape, b.shape, attrs.transA, attrs.transB);
  const fused = addends.slice(0, MAX_ADDENDS);
  while (fused.length > 0 && !fused.every((c) => fitsAddend(c.shape, out))) fused.pop();
  const y = fused.length > 0 ? apply("matmul_add", [a, b, ...fused], attrs) : apply("matmul", [a, b], attrs);
  return addends.slice(fused.length).reduce((acc, c) => add(acc, c), y);
}

function fitsAddend(c: Shape, out: Shape): boolean {
  try {
    addendPeriod(c, out);
    return true;
  } catch {
    return false;
  }
}

/** x [..., r, c] viewed as [(...) * r, c]. */
function rows(x: Node): Node {
  return reshape(x, [sizeOf(x.shape.slice(0, -1)), x.shape[x.shape.length - 1]]);
}

/** A batched gradient [..., r, c] summed over its batch, for an operand of `shape` [r, c]. */
function sumBatch(x: Node, shape: readonly number[]): Node {
  return reshape(sum(reshape(x, [sizeOf(x.shape.slice(0, -2)), sizeOf(shape)]), 0), shape);
}

/**
 * a @ b over the last two axes, batched over the leading ones: a [..., M, K] (or [..., K, M] with `transA`),
 * b [..., K, N] (or [..., N, K] with `transB`) -> [..., M, N]. Batch dimensions must be equal, or one
 * operand 2-D (one matrix for the whole batch, e.g. shared weights x [B, T, K] @ W [K, N]).
 * @example
 * ```ts
 * import { input } from "../node.ts";
 * const q = input("q", [8, 16, 32]);
 * const k = input("k", [8, 16, 32]);
 * const scores = matmul(q, k, { transB: true }); // [8, 16, 16]
 * ```
 */
export function matmul(a: Node, b: Node, options: MatmulOptions = {}): Node {
  return apply("matmul", [a, b], { transA: options.transA === true, transB: options.transB === true });
}

/**
 * A linear layer in PyTorch layout: x [..., in] @ W^T + bias with W [out, in] and bias [out] -> [..., out];
 * `residual` (shaped like the output, or a trailing part of it) is added last. One kernel when x has a batch
 * axis (bias and residual in the matmul's epilogue), else a matmul and adds.
 * @example
 * ```ts
 * import { input, param } from "../node.ts";
 * const x = input("x", [32, 64]);
 * const h = linear(x, param("fc1.weight", [256, 64], true), param("fc1.bias", [256], true)); // [32, 256]
 * ```
 */
export function linear(x: Node, W: Node, bias?: Node, residual?: Node): Node {
  checkLinear(x, W, bias);
  const outF = W.shape[0], inF = W.shape[1];
  const addends = [bias, residual].filter((n): n is Node => n !== undefined);
  if (x.shape.length > 1) return matmulAdd(x, W, addends, { transB: true });
  const y = reshape(matmul(reshape(x, [1, inF]), W, { transB: true }), [outF]);
  return addends.reduce((acc, c) => add(acc, c), y);
}

/** Throws a ShapeError naming the shapes unless x [..., in], W [out, in] and bias [out] fit a linear layer. */
export function checkLinear(x: Node, W: Node, bias?: Node): void {
  const at = `linear: x ${showShape(x.shape)}, weight ${showShape(W.shape)}`;
  if (W.shape.length !== 2) throw new ShapeError(`${at}: the weight must be 2-D [out, in]`);
  const [outF, inF] = W.shape;
  if (x.shape.length === 0 || x.shape[x.shape.length - 1] !== inF) {
    throw new ShapeError(`${at}: the last axis of x must be in = ${inF}`);
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError(`${at}, bias ${showShape(bias.shape)}: the bias must be [out] = [${outF}]`);
  }
}

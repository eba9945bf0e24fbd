/** matmul (batched, with transposes by indexing) and the linear layer built on it. */
import { type Node, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps } from "../op.ts";
import { add } from "./elementwise.ts";
import { chooseBlock, foldBatch, type MatmulBlock, matmulCall, matmulDims } from "./_matmul_plan.ts";
import { sum } from "./reduce.ts";
import { reshape } from "./reshape.ts";

/** Which operands enter transposed: `transA` reads a [..., K, M] as its transpose, `transB` b [..., N, K]. */
export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

defineOps({
  name: "matmul",
  shape: ([a, b], attrs) => matmulDims(a, b, attrs.transA === true, attrs.transB === true).out,
  cpu: ([a, b], [sa, sb], attrs) => {
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
  },
  grad: (node, g) => {
    const [a, b] = node.inputs;
    const transA = node.attrs.transA === true, transB = node.attrs.transB === true;
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
  },
  gpu: ([a, b], attrs, out) => {
    if (sizeOf(out) === 0) return { calls: [] };
    const d = foldBatch(matmulDims(a, b, attrs.transA === true, attrs.transB === true).dims);
    // `block` pins a kernel variant (tests and the tuning bench); normally the cost model picks one.
    return { calls: [matmulCall(d, (attrs.block as MatmulBlock | undefined) ?? chooseBlock(d))] };
  },
});

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
 * A linear layer in PyTorch layout: x [..., in] @ W^T + bias with W [out, in] and bias [out] -> [..., out].
 * @example
 * ```ts
 * import { input, param } from "../node.ts";
 * const x = input("x", [32, 64]);
 * const h = linear(x, param("fc1.weight", [256, 64], true), param("fc1.bias", [256], true)); // [32, 256]
 * ```
 */
export function linear(x: Node, W: Node, bias?: Node): Node {
  const at = `linear: x ${showShape(x.shape)}, weight ${showShape(W.shape)}`;
  if (W.shape.length !== 2) throw new ShapeError(`${at}: the weight must be 2-D [out, in]`);
  const [outF, inF] = W.shape;
  if (x.shape.length === 0 || x.shape[x.shape.length - 1] !== inF) {
    throw new ShapeError(`${at}: the last axis of x must be in = ${inF}`);
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF)) {
    throw new ShapeError(`${at}, bias ${showShape(bias.shape)}: the bias must be [out] = [${outF}]`);
  }
  const x2 = x.shape.length === 1 ? reshape(x, [1, inF]) : x;
  let y = matmul(x2, W, { transB: true });
  if (x.shape.length === 1) y = reshape(y, [outF]);
  return bias ? add(y, bias) : y;
}

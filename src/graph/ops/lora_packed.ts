/**
 * A linear layer shared by K packed variants, each with its own LoRA branch: the frozen product runs once
 * over all K variants' rows (one tall matmul); the branches are batched matmuls over a variant axis, so
 * variant k's rows meet only variant k's A and B (the segmented LoRA product of S-LoRA / Punica).
 */
import { constant, type Node, ShapeError, showShape } from "../node.ts";
import { mul } from "./elementwise.ts";
import { linear, matmul, matmulAdd } from "./matmul.ts";
import { reshape } from "./reshape.ts";
import { scale } from "./unary.ts";

/** One branch for all variants: A [K, r, in] and B [K, out, r] stacked, r the largest rank (zero padded). */
export interface PackedLoraBranch {
  A: Node;
  B: Node;
  /** The multiplier s of each variant. */
  scales: readonly number[];
  /** Per-example weight g [K * batch]; absent means 1. */
  gate?: Node;
  /** Weight the branch by 1 - g (the low-quality branch of a gated pair). */
  gateComplement?: boolean;
  /** What the branch reads instead of x (x after LoRA dropout); same shape as x. */
  input?: Node;
}

function check(x: Node, W: Node, br: PackedLoraBranch, k: number): void {
  const [out, inDim] = W.shape;
  const [K, r] = br.A.shape;
  const fits = br.A.shape.length === 3 && br.A.shape[2] === inDim &&
    br.B.shape.join() === [K, out, r].join() && br.scales.length === K && x.shape[0] % K === 0;
  if (!fits) {
    throw new ShapeError(
      `packedLoraLinear: branch ${k} needs A [K, rank, ${inDim}], B [K, ${out}, rank] and K scales for ` +
        `weight ${showShape(W.shape)} and x ${showShape(x.shape)} (rows a multiple of K), found A ` +
        `${showShape(br.A.shape)}, B ${showShape(br.B.shape)} and ${br.scales.length} scales`,
    );
  }
  if (br.gate && br.gate.shape.join() !== [x.shape[0]].join()) {
    throw new ShapeError(
      `packedLoraLinear: branch ${k} gate must have shape [${x.shape[0]}], found ${showShape(br.gate.shape)}`,
    );
  }
}

/**
 * y = x W^T + b + sum over branches of s_k g (x A_k^T) B_k^T for the rows of variant k, x [K * batch, in]
 * or [K * batch, T, in] with variant k's examples in rows k * batch .. (k + 1) * batch - 1. `residual`
 * (shaped like the output) is added last. Each variant's values are those of `loraLinear` run alone.
 */
export function packedLoraLinear(
  x: Node,
  W: Node,
  b: Node | undefined,
  branches: readonly PackedLoraBranch[],
  residual?: Node,
): Node {
  if (x.shape.length !== 2 && x.shape.length !== 3) {
    throw new ShapeError(
      `packedLoraLinear: x must be [rows, in] or [rows, T, in], found ${showShape(x.shape)}`,
    );
  }
  let y = linear(x, W, b, branches.length === 0 ? residual : undefined);
  const outShape = y.shape;
  branches.forEach((br, k) => {
    check(x, W, br, k);
    const K = br.A.shape[0];
    const rows = x.size / x.shape[x.shape.length - 1] / K;
    const r = br.A.shape[1];
    const perVariant = (n: Node) => reshape(n, [K, rows, n.shape[n.shape.length - 1]]);
    if (br.input && br.input.shape.join() !== x.shape.join()) {
      throw new ShapeError(
        `packedLoraLinear: branch ${k} input ${showShape(br.input.shape)} differs from x ${
          showShape(x.shape)
        }`,
      );
    }
    let h = matmul(perVariant(br.input ?? x), br.A, { transB: true }); // [K, rows, r]
    if (br.gate) {
      // s_k g (or s_k (1 - g)) per example, as loraLinear folds the scale into the gate.
      const B = x.shape[0] / K;
      const g = br.gateComplement ? scale(br.gate, -1, 1) : br.gate;
      const sg = mul(reshape(g, [K, B]), constant([...br.scales], [K, 1], "lora_scales"));
      h = reshape(mul(reshape(h, [K * B, rows / B, r]), reshape(sg, [K * B, 1, 1])), [K, rows, r]);
    } else if (br.scales.some((s) => s !== 1)) {
      h = mul(h, constant([...br.scales], [K, 1, 1], "lora_scales"));
    }
    const last = k === branches.length - 1;
    const addends = last && residual ? [perVariant(y), perVariant(residual)] : [perVariant(y)];
    y = reshape(matmulAdd(h, br.B, addends, { transB: true }), outShape);
  });
  return y;
}

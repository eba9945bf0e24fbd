/** A linear layer with LoRA branches (plain, or two branches blended by a per-example gate), from matmul ops. */
import { type Node, ShapeError, showShape } from "../node.ts";
import { mul } from "./elementwise.ts";
import { checkLinear, linear, matmul2Add, matmulAdd } from "./matmul.ts";
import { reshape } from "./reshape.ts";
import { scale } from "./unary.ts";

/** One low-rank branch: adds scale * g * (x A^T) B^T to the layer's output. */
export interface LoraBranch {
  /** Down projection [rank, in]. */
  A: Node;
  /** Up projection [out, rank]. */
  B: Node;
  /** The multiplier s (alpha / rank). */
  scale: number;
  /** Per-example weight g [batch]; absent means 1. */
  gate?: Node;
  /** Weight the branch by 1 - g instead of g (the low-quality branch of a gated pair). */
  gateComplement?: boolean;
  /** What the branch reads instead of x (x after LoRA dropout, as PEFT applies it); same shape as x. */
  input?: Node;
}

function checkBranch(x: Node, W: Node, br: LoraBranch, k: number): void {
  const [out, inDim] = W.shape;
  const r = br.A.shape[0];
  if (br.A.shape.length !== 2 || br.A.shape[1] !== inDim || br.B.shape.join() !== [out, r].join()) {
    throw new ShapeError(
      `loraLinear: branch ${k} needs A [rank, ${inDim}] and B [${out}, rank] for weight ${
        showShape(W.shape)
      }, ` +
        `found A ${showShape(br.A.shape)} and B ${showShape(br.B.shape)}`,
    );
  }
  if (br.gate && br.gate.shape.join() !== [x.shape[0]].join()) {
    throw new ShapeError(
      `loraLinear: branch ${k} gate must have shape [${x.shape[0]}] (one per example of x ${
        showShape(x.shape)
      }), ` +
        `found ${showShape(br.gate.shape)}`,
    );
  }
  if (br.gateComplement && !br.gate) {
    throw new ShapeError(`loraLinear: branch ${k} sets gateComplement but has no gate`);
  }
}

/**
 * y = x W^T + b + sum over branches of scale * g * (x A^T) B^T, for x [batch, in] or [batch, T, in] (the
 * gate g [batch] is shared by an example's tokens). Gate and scale multiply the rank-r intermediate, not the
 * wide output. `residual` (shaped like the output) is added last, as add(residual, loraLinear(...)) would.
 */
export function loraLinear(
  x: Node,
  W: Node,
  b: Node | undefined,
  branches: readonly LoraBranch[],
  residual?: Node,
): Node {
  if (x.shape.length !== 2 && x.shape.length !== 3) {
    throw new ShapeError(`loraLinear: x must be [batch, in] or [batch, T, in], found ${showShape(x.shape)}`);
  }
  checkLinear(x, W, b);
  const hs = branches.map((br, k) => {
    checkBranch(x, W, br, k);
    if (br.input && br.input.shape.join() !== x.shape.join()) {
      throw new ShapeError(
        `loraLinear: branch ${k} input ${showShape(br.input.shape)} differs from x ${showShape(x.shape)}`,
      );
    }
    return loraDown(x, br);
  });
  // The first branch's up projection runs inside the frozen product when the kernel allows (one dispatch);
  // each further one adds the running sum in its epilogue; the last one adds the residual too.
  const only = branches.length === 1 ? residual : undefined;
  const first = hs.length > 0
    ? matmul2Add(x, W, hs[0], branches[0].B, [b, only].filter((n): n is Node => n !== undefined), {
      transB: true,
    })
    : undefined;
  let y = first ?? linear(x, W, b, branches.length === 0 ? residual : undefined);
  branches.forEach((br, k) => {
    if (k === 0 && first) return;
    const last = k === branches.length - 1;
    y = matmulAdd(hs[k], br.B, last && residual ? [y, residual] : [y], { transB: true });
  });
  return y;
}

/**
 * A branch's rank-r intermediate scale * g * (x A^T) for x [batch, in] or [batch, T, in]: what its up
 * projection B multiplies (inside `loraLinear`, or as the low-rank term of a fused loss).
 */
export function loraDown(x: Node, br: LoraBranch): Node {
  const h = linear(br.input ?? x, br.A);
  if (br.gate) {
    const g = br.gateComplement ? scale(br.gate, -br.scale, br.scale) : scale(br.gate, br.scale);
    return mul(h, reshape(g, x.shape.length === 3 ? [x.shape[0], 1, 1] : [x.shape[0], 1]));
  }
  return br.scale !== 1 ? scale(h, br.scale) : h;
}

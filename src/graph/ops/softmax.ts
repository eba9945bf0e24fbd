/** softmax over the last axis (optionally causal) and its backward `softmax_grad`, one kernel each. */
import body from "../../../kernels/softmax.wgsl" with { type: "text" };
import gradBody from "../../../kernels/softmax_grad.wgsl" with { type: "text" };
import { type Node, type Shape, ShapeError, showShape } from "../node.ts";
import { apply, defineOps } from "../op.ts";
import { lastAxis, rowCall, rowKernel, sameShape } from "./_rows.ts";

const source = rowKernel(body);
const gradSource = rowKernel(gradBody);

/** Options of `softmax`. */
export interface SoftmaxOptions {
  /** For scores [..., T, T]: key index > query index (second-to-last axis) gets probability 0. */
  causal?: boolean;
}

function checkCausal(shape: Shape): void {
  const n = shape.length;
  if (n < 2 || shape[n - 1] !== shape[n - 2]) {
    throw new ShapeError(`softmax: causal needs square scores [..., T, T], found ${showShape(shape)}`);
  }
}

defineOps(
  {
    name: "softmax",
    shape: ([x], attrs) => {
      lastAxis("softmax", x);
      if (attrs.causal) checkCausal(x);
      return x;
    },
    cpu: ([x], [s], attrs) => {
      const [rows, len] = lastAxis("softmax", s);
      const tq = s[s.length - 2] ?? 1;
      const out = new Float64Array(x.length);
      for (let r = 0; r < rows; r++) {
        const seen = attrs.causal ? r % tq + 1 : len;
        let m = -Infinity;
        for (let j = 0; j < seen; j++) m = Math.max(m, x[r * len + j]);
        let sum = 0;
        for (let j = 0; j < seen; j++) sum += Math.exp(x[r * len + j] - m);
        for (let j = 0; j < seen; j++) out[r * len + j] = Math.exp(x[r * len + j] - m) / sum;
      }
      return out;
    },
    grad: (n, g) => [softmaxGrad(n, g)],
    gpu: ([s], attrs) => {
      const [rows, len] = lastAxis("softmax", s);
      const extra = [["u32", attrs.causal ? 1 : 0], ["u32", s[s.length - 2] ?? 1]] as const;
      return { calls: [rowCall("softmax", source, rows, len, [{ in: 0 }, { out: true }], extra)] };
    },
  },
  {
    name: "softmax_grad",
    shape: ([y, g]) => {
      lastAxis("softmax_grad", y);
      sameShape("softmax_grad", y, g);
      return y;
    },
    cpu: ([y, g], [s]) => {
      const [rows, len] = lastAxis("softmax_grad", s);
      const out = new Float64Array(y.length);
      for (let r = 0; r < rows; r++) {
        let dot = 0;
        for (let j = 0; j < len; j++) dot += g[r * len + j] * y[r * len + j];
        for (let j = 0; j < len; j++) out[r * len + j] = y[r * len + j] * (g[r * len + j] - dot);
      }
      return out;
    },
    gpu: ([s]) => {
      const [rows, len] = lastAxis("softmax_grad", s);
      return {
        calls: [rowCall("softmax_grad", gradSource, rows, len, [{ in: 0 }, { in: 1 }, { out: true }])],
      };
    },
  },
);

/** Softmax over the last axis, numerically stable (the row maximum is subtracted first). */
export function softmax(x: Node, options: SoftmaxOptions = {}): Node {
  return apply("softmax", [x], { causal: options.causal ?? false });
}

/** Backward of softmax given its output `y` and the output gradient `g`: y * (g - sum(g * y, last)). */
export function softmaxGrad(y: Node, g: Node): Node {
  return apply("softmax_grad", [y, g]);
}

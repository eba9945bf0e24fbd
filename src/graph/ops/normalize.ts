/** l2Normalize over the last axis (norm floored at eps), fused forward and backward kernels. */
import body from "../../../kernels/l2_normalize.wgsl" with { type: "text" };
import gradBody from "../../../kernels/l2_normalize_grad.wgsl" with { type: "text" };
import type { Node } from "../node.ts";
import { apply, defineOps } from "../op.ts";
import { lastAxis, rowCall, rowKernel, sameShape } from "./_rows.ts";

const source = rowKernel(body);
const gradSource = rowKernel(gradBody);

function norm(x: Float64Array, r: number, len: number): number {
  let s = 0;
  for (let j = 0; j < len; j++) s += x[r * len + j] ** 2;
  return Math.sqrt(s);
}

defineOps(
  {
    name: "l2_normalize",
    shape: ([x]) => {
      lastAxis("l2Normalize", x);
      return x;
    },
    cpu: ([x], [s], attrs) => {
      const [rows, len] = lastAxis("l2Normalize", s);
      const n = Array.from({ length: rows }, (_, r) => Math.max(norm(x, r, len), attrs.eps as number));
      return x.map((v, i) => v / n[Math.floor(i / len)]);
    },
    grad: (n, g) => [l2NormalizeGrad(n.inputs[0], g, n.attrs.eps as number)],
    gpu: ([s], attrs) => {
      const [rows, len] = lastAxis("l2Normalize", s);
      const extra = [["f32", attrs.eps as number]] as const;
      return { calls: [rowCall("l2_normalize", source, rows, len, [{ in: 0 }, { out: true }], extra)] };
    },
  },
  {
    name: "l2_normalize_grad",
    shape: ([x, g]) => {
      lastAxis("l2_normalize_grad", x);
      sameShape("l2_normalize_grad", x, g);
      return x;
    },
    cpu: ([x, g], [s], attrs) => {
      const [rows, len] = lastAxis("l2_normalize_grad", s);
      const eps = attrs.eps as number;
      const out = new Float64Array(x.length);
      for (let r = 0; r < rows; r++) {
        const n = norm(x, r, len);
        let gx = 0;
        for (let j = 0; j < len; j++) gx += g[r * len + j] * x[r * len + j];
        const k = n > eps ? gx / n ** 3 : 0;
        for (let j = 0; j < len; j++) {
          out[r * len + j] = g[r * len + j] / Math.max(n, eps) - x[r * len + j] * k;
        }
      }
      return out;
    },
    gpu: ([s], attrs) => {
      const [rows, len] = lastAxis("l2_normalize_grad", s);
      const bind = [{ in: 0 }, { in: 1 }, { out: true }] as const;
      return {
        calls: [rowCall("l2_normalize_grad", gradSource, rows, len, bind, [["f32", attrs.eps as number]])],
      };
    },
  },
);

/** Each row (last axis) divided by max(its L2 norm, eps), as torch's F.normalize. */
export function l2Normalize(x: Node, eps = 1e-12): Node {
  return apply("l2_normalize", [x], { eps });
}

/** Backward of l2Normalize given the input `x` and the output gradient `g`. */
export function l2NormalizeGrad(x: Node, g: Node, eps = 1e-12): Node {
  return apply("l2_normalize_grad", [x, g], { eps });
}

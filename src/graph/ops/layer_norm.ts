/** layerNorm over the last axis, with fused backward ops for the input (`layer_norm_dx`) and gamma. */
import body from "../../../kernels/layer_norm.wgsl" with { type: "text" };
import dgammaBody from "../../../kernels/layer_norm_dgamma.wgsl" with { type: "text" };
import vecSource from "../../../kernels/layer_norm_vec.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, type Shape, ShapeError, showShape } from "../node.ts";
import { apply, defineOps, type KernelCall } from "../op.ts";
import { LANE_MAX_LEN, LANE_ROWS, lastAxis, rowCall, rowKernel, sameShape } from "./_rows.ts";
import { sum, sumTo } from "./reduce.ts";
import { unrolledLayerNorm, writtenOut } from "./_layer_norm_rows.ts";
import { reshape } from "./reshape.ts";

const source = rowKernel(body);
const dgammaSource = rowKernel(dgammaBody);

/**
 * On CPU adapters rows up to this long get a lane each, whatever LANE_MAX_LEN says: there a workgroup's
 * barriers cost coroutine switches, which a lane walking its row alone avoids (the 30M GPT-2 step's rows of
 * 384: layer_norm_dx 146.9 -> 41.6 ms in the profile).
 */
const CPU_LANE_MAX_LEN = 2048;

/** Rows per partial sum of the gamma gradient: one workgroup each, summed afterwards by `sum`. */
const DGAMMA_CHUNK = 32;

/**
 * The layer_norm / layer_norm_dx call: rows of up to LANE_MAX_LEN that divide by 4 get a lane each and vec4
 * loads (kernels/layer_norm_vec.wgsl; written out per length up to UNROLLED_MAX_LEN), others the shared row
 * kernels.
 */
function layerNormCall(
  kernel: string,
  s: Shape,
  eps: number,
  entry: "forward" | "dx",
  addend = false,
): KernelCall {
  const [rows, len] = lastAxis(kernel, s);
  if (addend) {
    if (!writtenOut(len) || len > LANE_MAX_LEN) {
      throw new Error(`${kernel}: an addend needs the written-out kernel, which rows of ${len} do not get`);
    }
    return {
      kernel: `${kernel}_vec`,
      source: unrolledLayerNorm(len, true),
      entry,
      params: params([["u32", rows], ["u32", len], ["f32", eps]]),
      workgroups: grid(rows, LANE_ROWS),
      bind: [{ in: 0 }, { in: 1 }, { in: 2 }, { out: true }, { in: 3 }],
    };
  }
  const bind = [{ in: 0 }, { in: 1 }, { in: 2 }, { out: true }] as const;
  const lanes: KernelCall = {
    kernel: `${kernel}_vec`,
    source: writtenOut(len) ? unrolledLayerNorm(len) : vecSource,
    entry,
    params: params([["u32", rows], ["u32", len], ["f32", eps]]),
    workgroups: grid(rows, LANE_ROWS),
    bind,
  };
  if (len % 4 !== 0) return rowCall(kernel, source, rows, len, bind, [["f32", eps]], entry);
  if (len <= LANE_MAX_LEN) return lanes;
  // longer rows: a workgroup each on a GPU, still a lane each on a CPU adapter (bench/NOTES.md)
  const group = rowCall(kernel, source, rows, len, bind, [["f32", eps]], entry);
  return len <= CPU_LANE_MAX_LEN ? { ...group, onCpu: lanes } : group;
}

/** Throws unless `v` (gamma or beta) has shape [len] for rows of `x`. */
function checkVector(op: string, what: string, x: Shape, v: Shape): void {
  const [, len] = lastAxis(op, x);
  if (v.length !== 1 || v[0] !== len) {
    throw new ShapeError(
      `${op}: ${what} must have shape [${len}] for input ${showShape(x)}, found ${showShape(v)}`,
    );
  }
}

/** float64 mean and 1 / sqrt(biased variance + eps) of row `r`. */
function rowStats(x: Float64Array, r: number, len: number, eps: number): [number, number] {
  let mean = 0;
  for (let j = 0; j < len; j++) mean += x[r * len + j];
  mean /= len;
  let v = 0;
  for (let j = 0; j < len; j++) v += (x[r * len + j] - mean) ** 2;
  return [mean, 1 / Math.sqrt(v / len + eps)];
}

defineOps(
  {
    name: "layer_norm",
    shape: ([x, gamma, beta]) => {
      checkVector("layerNorm", "gamma", x, gamma);
      checkVector("layerNorm", "beta", x, beta);
      return x;
    },
    cpu: ([x, gamma, beta], [s], attrs) => {
      const [rows, len] = lastAxis("layerNorm", s);
      const out = new Float64Array(x.length);
      for (let r = 0; r < rows; r++) {
        const [mean, rstd] = rowStats(x, r, len, attrs.eps as number);
        for (let j = 0; j < len; j++) out[r * len + j] = (x[r * len + j] - mean) * rstd * gamma[j] + beta[j];
      }
      return out;
    },
    grad: (n, g) => {
      const [x, gamma, beta] = n.inputs;
      const eps = n.attrs.eps as number;
      return [layerNormDx(x, gamma, g, eps), layerNormDgamma(x, g, eps), sumTo(g, beta.shape)];
    },
    gpu: ([s], attrs) => ({ calls: [layerNormCall("layer_norm", s, attrs.eps as number, "forward")] }),
  },
  {
    name: "layer_norm_dx",
    // An optional fourth input (x's shape) is added to the result: a residual path's gradient of x.
    shape: ([x, gamma, g, addend]) => {
      checkVector("layer_norm_dx", "gamma", x, gamma);
      sameShape("layer_norm_dx", x, g);
      if (addend) sameShape("layer_norm_dx", x, addend, "addend");
      return x;
    },
    cpu: ([x, gamma, g, addend], [s], attrs) => {
      const [rows, len] = lastAxis("layer_norm_dx", s);
      const out = new Float64Array(x.length);
      for (let r = 0; r < rows; r++) {
        const [mean, rstd] = rowStats(x, r, len, attrs.eps as number);
        let a = 0, b = 0;
        for (let j = 0; j < len; j++) {
          const gx = g[r * len + j] * gamma[j];
          a += gx;
          b += gx * (x[r * len + j] - mean) * rstd;
        }
        for (let j = 0; j < len; j++) {
          const xhat = (x[r * len + j] - mean) * rstd;
          out[r * len + j] = rstd * (g[r * len + j] * gamma[j] - a / len - xhat * b / len);
        }
      }
      if (addend) { for (let i = 0; i < out.length; i++) out[i] += addend[i]; }
      return out;
    },
    gpu: (ins, attrs) => ({
      calls: [layerNormCall("layer_norm_dx", ins[0], attrs.eps as number, "dx", ins.length === 4)],
    }),
  },
  {
    name: "layer_norm_dgamma",
    shape: ([x, g]) => {
      const [rows, len] = lastAxis("layer_norm_dgamma", x);
      sameShape("layer_norm_dgamma", x, g);
      return [Math.max(1, Math.ceil(rows / DGAMMA_CHUNK)), len];
    },
    cpu: ([x, g], [s], attrs, out) => {
      const [rows, len] = lastAxis("layer_norm_dgamma", s);
      const parts = new Float64Array(out[0] * len);
      for (let r = 0; r < rows; r++) {
        const [mean, rstd] = rowStats(x, r, len, attrs.eps as number);
        const o = Math.floor(r / DGAMMA_CHUNK) * len;
        for (let j = 0; j < len; j++) parts[o + j] += g[r * len + j] * (x[r * len + j] - mean) * rstd;
      }
      return parts;
    },
    gpu: ([s], attrs, out) => {
      const [rows, len] = lastAxis("layer_norm_dgamma", s);
      return {
        calls: [{
          kernel: "layer_norm_dgamma",
          source: dgammaSource.group,
          params: params([["u32", rows], ["u32", len], ["f32", attrs.eps as number], ["u32", DGAMMA_CHUNK]]),
          workgroups: grid(out[0], 1),
          bind: [{ in: 0 }, { in: 1 }, { out: true }],
        }],
      };
    },
  },
);

/** Layer norm over the last axis: (x - mean) / sqrt(biased variance + eps) * gamma + beta; gamma, beta [len]. */
export function layerNorm(x: Node, gamma: Node, beta: Node, eps = 1e-5): Node {
  return apply("layer_norm", [x, gamma, beta], { eps });
}

/** Gradient of layerNorm with respect to x, given the output gradient `g` (one kernel, stats recomputed). */
export function layerNormDx(x: Node, gamma: Node, g: Node, eps = 1e-5): Node {
  return apply("layer_norm_dx", [x, gamma, g], { eps });
}

/**
 * prev + dx for a `layer_norm_dx` node dx, as one kernel (prev added as dx is stored) where the written-out
 * kernel runs; undefined otherwise (the caller adds).
 */
export function layerNormDxPlus(dx: Node, prev: Node): Node | undefined {
  const len = dx.shape[dx.shape.length - 1];
  if (dx.op !== "layer_norm_dx" || dx.inputs.length !== 3 || !writtenOut(len) || len > LANE_MAX_LEN) {
    return undefined;
  }
  if (prev.shape.join() !== dx.shape.join()) return undefined;
  return apply("layer_norm_dx", [...dx.inputs, prev], dx.attrs);
}

/** Gradient of layerNorm with respect to gamma: sum over rows of g * xhat, as chunk partials then `sum`. */
export function layerNormDgamma(x: Node, g: Node, eps = 1e-5): Node {
  const parts = apply("layer_norm_dgamma", [x, g], { eps });
  return parts.shape[0] === 1 ? reshape(parts, [parts.shape[1]]) : sum(parts, 0);
}

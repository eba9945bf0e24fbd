/** Binary elementwise ops with numpy broadcasting (add, sub, mul, div), `where`, and two backward helpers. */
import erfcSource from "../../../kernels/_erfc.wgsl" with { type: "text" };
import binaryText from "../../../kernels/binary.wgsl" with { type: "text" };
import binaryVecText from "../../../kernels/binary_vec.wgsl" with { type: "text" };
import whereSource from "../../../kernels/where.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, type Shape, sizeOf } from "../node.ts";
import { apply, defineOps, type KernelCall, type OpDef } from "../op.ts";
import { broadcastShapes, broadcastStrides, type Fields, forEachStrided, vecFields } from "./_layout.ts";
import { fill } from "./fill.ts";
import { sumTo } from "./reduce.ts";
import { neg } from "./unary.ts";
import { geluErfDerivative } from "./_erf.ts";

// the exact gelu's gradient kernels call erfc_pos
const binarySource = erfcSource + binaryText;
const binaryVecSource = erfcSource + binaryVecText;

/** Offsets into a tensor of shape `from` for each element of its broadcast to `to`. */
function offsets(from: Shape, to: Shape): Int32Array {
  const o = new Int32Array(sizeOf(to));
  forEachStrided(to, broadcastStrides(from, to), (i, off) => o[i] = off);
  return o;
}

/** Uniform fields of the broadcast kernels: size, flags, then dims and each input's strides. */
function broadcastFields(ins: readonly Shape[], out: Shape, head: number): Fields {
  const fields: Fields = [["u32", sizeOf(out)], ["u32", head], ["u32", 0], ["u32", 0], ...vecFields(out, 1)];
  for (const s of ins) fields.push(...vecFields(broadcastStrides(s, out), 0));
  return fields;
}

/**
 * The period in vec4s of an input repeating along the output's leading axes (its shape, leading 1s dropped,
 * is the output's trailing shape), 1 for a single value; undefined when it does not fit the vec4 kernel.
 */
function vecPeriod(s: Shape, out: Shape): number | undefined {
  const n = sizeOf(s);
  if (n === 1) return 1;
  const own = s.slice(s.findIndex((d) => d !== 1));
  const tail = out.slice(out.length - own.length);
  return n % 4 === 0 && own.join() === tail.join() ? n / 4 : undefined;
}

/** The four-a-lane call of binary op `name` when the output and both inputs allow it (kernels/binary_vec.wgsl). */
function vecCall(name: string, ins: readonly Shape[], out: Shape): KernelCall | undefined {
  const n = sizeOf(out);
  const periods = ins.map((s) => vecPeriod(s, out));
  if (n % 4 !== 0 || n === 0 || periods.some((q) => q === undefined)) return undefined;
  const splat = ins.reduce((bits, s, k) => bits | (sizeOf(s) === 1 ? 1 << k : 0), 0);
  return {
    kernel: "binary_vec",
    source: binaryVecSource,
    entry: name,
    params: params([["u32", n / 4], ["u32", periods[0]!], ["u32", periods[1]!], ["u32", splat]]),
    workgroups: grid(n / 4, 64),
    bind: [{ in: 0 }, { in: 1 }, { out: true }],
  };
}

function binary(name: string, f: (a: number, b: number) => number, grad: OpDef["grad"]): OpDef {
  return {
    name,
    shape: ([a, b]) => broadcastShapes(name, a, b),
    cpu: ([a, b], [sa, sb], _attrs, out) => {
      const oa = offsets(sa, out), ob = offsets(sb, out);
      return Float64Array.from(oa, (ia, i) => f(a[ia], b[ob[i]]));
    },
    grad,
    gpu: ([sa, sb], _attrs, out) => {
      const vec = vecCall(name, [sa, sb], out);
      if (vec) return { calls: [vec] };
      const same = (sa.join() === out.join() ? 1 : 0) | (sb.join() === out.join() ? 2 : 0);
      return {
        calls: [{
          kernel: "binary",
          source: binarySource,
          entry: name,
          params: params(broadcastFields([sa, sb], out, same)),
          workgroups: grid(sizeOf(out), 256),
          bind: [{ in: 0 }, { in: 1 }, { out: true }],
        }],
      };
    },
  };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Derivative of gelu_tanh at `x`. */
export function geluDerivative(x: number): number {
  const u = SQRT_2_OVER_PI * (x + 0.044715 * x ** 3);
  const t = Math.tanh(u);
  const sech2 = 1 - t * t;
  // tanh saturates long before x * x overflows (|x| > 1.3e154): the second term is then exactly 0
  if (sech2 === 0) return 0.5 * (1 + t);
  return 0.5 * (1 + t) + 0.5 * x * sech2 * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

defineOps(
  binary("add", (a, b) => a + b, (n, g) => [sumTo(g, n.inputs[0].shape), sumTo(g, n.inputs[1].shape)]),
  binary("sub", (a, b) => a - b, (n, g) => [sumTo(g, n.inputs[0].shape), sumTo(neg(g), n.inputs[1].shape)]),
  binary("mul", (a, b) => a * b, (n, g) => {
    const [a, b] = n.inputs;
    return [sumTo(mul(g, b), a.shape), sumTo(mul(g, a), b.shape)];
  }),
  binary("div", (a, b) => a / b, (n, g) => {
    const [a, b] = n.inputs;
    return [sumTo(div(g, b), a.shape), sumTo(neg(mul(g, div(n, b))), b.shape)];
  }),
  // relu'(x) is 0 almost everywhere, so x gets no gradient through relu_grad.
  binary("relu_grad", (x, g) => x > 0 ? g : 0, (n, g) => [null, reluGrad(n.inputs[0], g)]),
  // No rule: second derivatives of gelu are not needed by any model here.
  binary("gelu_grad", (x, g) => g * geluDerivative(x), undefined),
  binary("gelu_erf_grad", (x, g) => g * geluErfDerivative(x), undefined),
  {
    name: "where",
    shape: ([c, a, b]) => broadcastShapes("where", broadcastShapes("where", c, a), b),
    cpu: ([c, a, b], [sc, sa, sb], _attrs, out) => {
      const oc = offsets(sc, out), oa = offsets(sa, out), ob = offsets(sb, out);
      return Float64Array.from(oc, (ic, i) => c[ic] !== 0 ? a[oa[i]] : b[ob[i]]);
    },
    grad: (n, g) => {
      const [c, a, b] = n.inputs;
      const zero = fill([], 0);
      return [null, sumTo(where(c, g, zero), a.shape), sumTo(where(c, zero, g), b.shape)];
    },
    gpu: (ins, _attrs, out) => ({
      calls: [{
        kernel: "where",
        source: whereSource,
        params: params(broadcastFields(ins, out, 0)),
        workgroups: grid(sizeOf(out), 256),
        bind: [{ in: 0 }, { in: 1 }, { in: 2 }, { out: true }],
      }],
    }),
  },
);

/** a + b, broadcasting like numpy. */
export function add(a: Node, b: Node): Node {
  return apply("add", [a, b]);
}

/** a - b, broadcasting like numpy. */
export function sub(a: Node, b: Node): Node {
  return apply("sub", [a, b]);
}

/** a * b elementwise, broadcasting like numpy. */
export function mul(a: Node, b: Node): Node {
  return apply("mul", [a, b]);
}

/** a / b elementwise, broadcasting like numpy. */
export function div(a: Node, b: Node): Node {
  return apply("div", [a, b]);
}

/** Elementwise `cond != 0 ? a : b`, all three broadcast together. */
export function where(cond: Node, a: Node, b: Node): Node {
  return apply("where", [cond, a, b]);
}

/** Backward of relu: `g` where `x > 0`, else 0. */
export function reluGrad(x: Node, g: Node): Node {
  return apply("relu_grad", [x, g]);
}

/** Backward of the exact (erf) GELU: `g * gelu'(x)`. */
export function geluErfGrad(x: Node, g: Node): Node {
  return apply("gelu_erf_grad", [x, g]);
}

/** Backward of gelu_tanh: `g * gelu'(x)`. */
export function geluGrad(x: Node, g: Node): Node {
  return apply("gelu_grad", [x, g]);
}

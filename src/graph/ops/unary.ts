/** Unary elementwise ops: neg exp log relu gelu sqrt recip tanh square, scale (a x + b), and gelu_erf. */
import erfcSource from "../../../kernels/_erfc.wgsl" with { type: "text" };
import unaryText from "../../../kernels/unary.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, sizeOf } from "../node.ts";
import { apply, defineOps, type OpDef } from "../op.ts";
import { div, geluErfGrad, mul, reluGrad } from "./elementwise.ts";
import { geluErfValue } from "./_erf.ts";
import { geluGradOf } from "./matmul.ts";

/** Kernel op codes; the `switch` in kernels/unary.wgsl follows this order. */
const UNARY_CODES = [
  "neg",
  "exp",
  "log",
  "relu",
  "gelu",
  "sqrt",
  "recip",
  "tanh",
  "square",
  "scale",
  "gelu_erf",
] as const;

type UnaryName = typeof UNARY_CODES[number];

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const specialised = new Map<string, string>();

/**
 * The kernel for op `code`, one vec4 a lane or one float: the op is a constant so its switch folds at
 * compile time (a runtime switch doubled the cost of gelu on lavapipe), and vec4 lanes halve the load cost.
 */
function specialise(code: number, vec: boolean): string {
  const key = `${code}:${vec}`;
  let text = specialised.get(key);
  if (text === undefined) {
    const lines: [RegExp, string][] = [
      [/^const CODE = .*;$/m, `const CODE = ${code}u;`],
      [/^alias Elem = .*;$/m, `alias Elem = ${vec ? "vec4f" : "f32"};`],
    ];
    text = lines.reduce((s, [line, value]) => {
      if (!line.test(s)) throw new Error(`unary kernel lacks a line matching ${line}`);
      return s.replace(line, value);
    }, erfcSource + unaryText);
    specialised.set(key, text);
  }
  return text;
}

function unary(name: UnaryName, f: (x: number, a: number, b: number) => number, grad: OpDef["grad"]): OpDef {
  return {
    name,
    shape: ([x]) => x,
    cpu: ([x], _s, attrs) => {
      const a = (attrs.a as number | undefined) ?? 1, b = (attrs.b as number | undefined) ?? 0;
      return x.map((v) => f(v, a, b));
    },
    grad,
    gpu: (_s, attrs, out) => {
      const n = sizeOf(out);
      const vec = n % 4 === 0;
      const elems = vec ? n / 4 : n;
      return {
        calls: [{
          kernel: "unary",
          source: specialise(UNARY_CODES.indexOf(name), vec),
          params: params([
            ["u32", elems],
            ["u32", UNARY_CODES.indexOf(name)],
            ["f32", (attrs.a as number | undefined) ?? 1],
            ["f32", (attrs.b as number | undefined) ?? 0],
          ]),
          workgroups: grid(elems, 64),
          bind: [{ in: 0 }, { out: true }],
        }],
      };
    },
  };
}

defineOps(
  unary("neg", (x) => -x, (_n, g) => [neg(g)]),
  unary("exp", Math.exp, (n, g) => [mul(g, n)]),
  unary("log", Math.log, (n, g) => [div(g, n.inputs[0])]),
  unary("relu", (x) => Math.max(x, 0), (n, g) => [reluGrad(n.inputs[0], g)]),
  unary("gelu", (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))), (n, g) => [
    geluGradOf(n.inputs[0], g),
  ]),
  unary("sqrt", Math.sqrt, (n, g) => [mul(g, scale(recip(n), 0.5))]),
  unary("recip", (x) => 1 / x, (n, g) => [neg(mul(g, square(n)))]),
  unary("tanh", Math.tanh, (n, g) => [mul(g, scale(square(n), -1, 1))]),
  unary("square", (x) => x * x, (n, g) => [mul(g, scale(n.inputs[0], 2))]),
  unary("scale", (x, a, b) => a * x + b, (n, g) => [scale(g, n.attrs.a as number)]),
  unary("gelu_erf", geluErfValue, (n, g) => [geluErfGrad(n.inputs[0], g)]),
);

/** -x. */
export function neg(x: Node): Node {
  return apply("neg", [x]);
}

/** e^x. */
export function exp(x: Node): Node {
  return apply("exp", [x]);
}

/** Natural logarithm. */
export function log(x: Node): Node {
  return apply("log", [x]);
}

/** max(x, 0). */
export function relu(x: Node): Node {
  return apply("relu", [x]);
}

/** gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function gelu(x: Node): Node {
  return apply("gelu", [x]);
}

/** The exact GELU, x Phi(x) = 0.5 x (1 + erf(x / sqrt(2))) (Hugging Face's "gelu"). */
export function geluErf(x: Node): Node {
  return apply("gelu_erf", [x]);
}

/** Square root. */
export function sqrt(x: Node): Node {
  return apply("sqrt", [x]);
}

/** 1 / x. */
export function recip(x: Node): Node {
  return apply("recip", [x]);
}

/** Hyperbolic tangent. */
export function tanh(x: Node): Node {
  return apply("tanh", [x]);
}

/** x * x. */
export function square(x: Node): Node {
  return apply("square", [x]);
}

/** a * x + b with constant a and b. */
export function scale(x: Node, a: number, b = 0): Node {
  return apply("scale", [x], { a, b });
}

/**
 * silu(x) = x sigmoid(x), composed as x (0.5 tanh(x / 2) + 0.5): tanh stays finite for any x, where
 * 1 / (1 + exp(-x)) would meet an infinity (and a NaN gradient) below x = -88.
 */
export function silu(x: Node): Node {
  return mul(x, scale(tanh(scale(x, 0.5)), 0.5, 0.5));
}

import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import {
  add,
  div,
  geluDerivative,
  geluErfGrad,
  geluGrad,
  mul,
  reluGrad,
  sub,
  where,
} from "../src/graph/ops/elementwise.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import {
  exp,
  gelu,
  geluErf,
  log,
  neg,
  recip,
  relu,
  scale,
  sqrt,
  square,
  tanh,
} from "../src/graph/ops/unary.ts";
import { geluErfDerivative, geluErfValue } from "../src/graph/ops/_erf.ts";
import { Program } from "../src/compile/program.ts";
import { gpuVsCpu, randoms, relError, testDevice } from "./_harness.ts";

const TOL = 1e-5;

/** Inputs with random values in [lo, hi), fed by node. */
function inputs(shapes: Shape[], seed: number, lo = -1, hi = 1): [Node[], Map<Node, Float32Array>] {
  const nodes = shapes.map((s, k) => input(`x${k}`, s));
  return [nodes, new Map(nodes.map((n, k) => [n, randoms(sizeOf(n.shape), seed + k, lo, hi)]))];
}

function assertClose(errs: number[], tol: number): void {
  errs.forEach((e, k) => assert.ok(e <= tol, `output ${k}: relative error ${e} > ${tol}`));
}

const BROADCASTS: [Shape, Shape][] = [
  [[3, 5, 7], [5, 1]],
  [[1, 7], [3, 5, 7]],
  [[2, 1, 4, 3], [5, 1, 1]],
  [[], [3, 4]],
  [[2, 1, 3, 1, 2, 3], [3, 2, 1]],
  [[37, 61], [37, 61]],
  [[1], [1]],
];

Deno.test("add/sub/mul/div() broadcast like numpy on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [i, [sa, sb]] of BROADCASTS.entries()) {
    const [[a], fa] = inputs([sa], 10 * i);
    const [[b], fb] = inputs([sb], 10 * i + 5, 0.5, 2); // away from 0 for div
    const feeds = new Map([...fa, ...fb]);
    const outs = [add(a, b), sub(a, b), mul(a, b), div(a, b), sub(b, a)];
    assertClose(await gpuVsCpu(device, outs, feeds), TOL);
  }
});

Deno.test("add() of a tensor with itself reads one buffer twice", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[a], feeds] = inputs([[3, 100003]], 3);
  assertClose(await gpuVsCpu(device, [add(a, a)], feeds), TOL);
});

Deno.test("unary ops match float64", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[x], fx] = inputs([[7, 131]], 1, -4, 4);
  const [[y], fy] = inputs([[7, 131]], 2, 0.05, 5);
  const [[z], fz] = inputs([[1031]], 3, -0.3, 0.3); // small arguments where tanh cancels
  const feeds = new Map([...fx, ...fy, ...fz]);
  const outs = [
    neg(x),
    exp(x),
    relu(x),
    gelu(x),
    tanh(x),
    tanh(z),
    square(x),
    scale(x, -1.5, 0.25),
    scale(x, 3),
    log(y),
    sqrt(y),
    recip(y),
    gelu(scale(x, 12)),
    tanh(scale(x, 30)),
  ];
  assertClose(await gpuVsCpu(device, outs, feeds), TOL);
});

Deno.test("where() selects with broadcasting", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[c, a, b], feeds] = inputs([[4, 1, 9], [3, 9], [4, 3, 1]], 4);
  const cond = relu(c); // exact zeros about half the time
  const errs = await gpuVsCpu(device, [where(cond, a, b), where(relu(c), b, a)], feeds);
  assertClose(errs, TOL);
});

Deno.test("relu_grad and gelu_grad kernels match float64", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[x, g], feeds] = inputs([[5, 203], [5, 203]], 5, -4, 4);
  assertClose(
    await gpuVsCpu(device, [reluGrad(x, g), geluGrad(x, g), geluGrad(scale(x, 10), g)], feeds),
    TOL,
  );
});

Deno.test("gelu_grad stays finite and exact for huge inputs, and keeps NaN", async () => {
  const device = await testDevice();
  if (!device) return;
  // x * x overflows f32 above 1.8e19 and x^3 above 7e12; 1e4 is where the kernel clamps
  const huge = [1.8e19, 2e19, 1e20, 1e30, 3.4e38, 7e12, 1e13, 1e4, 1.0001e4, 50, 9.5, 3, 0.3, 1e-30, 0];
  const values = [Infinity, -Infinity, ...huge, ...huge.map((v) => -v)];
  // 32 values (the vec4 kernel) and 31 (the scalar one), with random upstream gradients
  for (const n of [32, 31]) {
    const x = input("x", [n]);
    const g = input("g", [n]);
    const feeds = new Map([[x, Float32Array.from(values.slice(0, n))], [g, randoms(n, 7, 0.5, 2)]]);
    assertClose(await gpuVsCpu(device, [geluGrad(x, g)], feeds), TOL);
  }
  assert.deepEqual([1e200, -1e200, 3.4e38, -3.4e38].map(geluDerivative), [1, 0, 1, 0]);
  // a NaN input is not clamped into a finite gradient, in either kernel
  for (const n of [8, 7]) {
    const x = input("x", [n]);
    const g = input("g", [n]);
    const y = geluGrad(x, g);
    const program = await Program.compile(device, [y], { poison: true });
    program.write(x, Float32Array.from({ length: n }, (_, i) => i === 1 ? NaN : i));
    program.write(g, new Float32Array(n).fill(1));
    program.run();
    const out = await program.read(y);
    program.destroy();
    assert.deepEqual([...out].map(Number.isNaN), [...out].map((_, i) => i === 1), `${n}: ${out}`);
  }
});

Deno.test("geluErf() and its float64 reference match PyTorch's exact gelu and math.erfc", () => {
  // torch.nn.functional.gelu in float64 (and 0.5 x erfc(-x / sqrt 2) by Python's math.erfc at -5, -10,
  // where torch's 1 + erf(x / sqrt 2) cancels), and the gradients by torch's autograd
  const xs = [1, -1, -5, -10, 0.001, 3];
  const values = [
    0.841344746068543,
    -0.15865525393145702,
    -1.4332578593959731e-06,
    -7.619853024160593e-23,
    0.000500398942213911,
    2.99595030590511,
  ];
  const slopes = [
    1.0833154705876864,
    -0.08331547058768635,
    -7.146946001792295e-06,
    -7.618400096464813e-22,
    0.5007978842948414,
    1.011945647204184,
  ];
  assert.ok(relError(xs.map(geluErfValue), values, 0) <= 1e-13);
  assert.ok(relError(xs.map(geluErfDerivative), slopes, 0) <= 1e-13);
  assert.deepEqual([Infinity, -Infinity, 1e200, -1e200].map(geluErfDerivative), [1, 0, 1, 0]);
});

Deno.test("gelu_erf and gelu_erf_grad kernels match float64 on awkward shapes", async () => {
  const device = await testDevice();
  if (!device) return;
  // 917 values (the scalar kernels) and 516 (the vec4 ones)
  for (const [seed, shape] of [[20, [7, 131]], [30, [4, 129]]] as [number, Shape][]) {
    const [[x, g], feeds] = inputs([shape, shape], seed, -4, 4);
    const outs = [geluErf(x), geluErf(scale(x, 12)), geluErfGrad(x, g), geluErfGrad(scale(x, 12), g)];
    const errs = await gpuVsCpu(device, outs, feeds);
    assertClose(errs.slice(0, 2), TOL);
    // Phi(x) + x phi(x) cancels where the slope crosses 0 (x = -0.75): 2e-5 measured there, relative to the
    // floor (1e-3 of the largest slope), is 2e-8 absolute, about one float32 ulp of the two terms
    assertClose(errs.slice(2), 5e-5);
  }
});

Deno.test("gelu_erf keeps its relative accuracy near 0 and in the negative tail", async () => {
  const device = await testDevice();
  if (!device) return;
  // pure relative error (no floor), measured on lavapipe: 4e-7 near 0, 1.3e-7 for x > 1, 1.9e-6 on [-4, -1],
  // 8.5e-6 on [-9, -6]: the f32 rounding of z^2 inside exp(-z^2) grows with z^2 (1 + erf would lose it all)
  const ranges: [number, number, number][] = [
    [-1e-3, 1e-3, 1e-6],
    [1, 4, 1e-6],
    [-4, -1, 4e-6],
    [-9, -4, 2e-5],
  ];
  for (const [k, [lo, hi, tol]] of ranges.entries()) {
    const [[x], feeds] = inputs([[1023]], 40 + k, lo, hi);
    const y = geluErf(x);
    const program = await Program.compile(device, [y], { poison: true });
    program.write(x, feeds.get(x)!);
    program.run();
    const out = await program.read(y);
    program.destroy();
    const err = relError(out, Float64Array.from(feeds.get(x)!, geluErfValue), 0);
    assert.ok(err <= tol, `[${lo}, ${hi}]: relative error ${err} > ${tol}`);
  }
});

Deno.test("gelu_erf_grad stays finite for huge inputs and keeps NaN", async () => {
  const device = await testDevice();
  if (!device) return;
  const huge = [2e19, 1e30, 3.4e38, 1e4, 1.0001e4, 50, 9.5, 3, 0.3, 1e-30, 0];
  const values = [Infinity, -Infinity, ...huge, ...huge.map((v) => -v), NaN];
  for (const n of [24, 25]) {
    const x = input("x", [n]);
    const g = input("g", [n]);
    const y = geluErfGrad(x, g);
    const program = await Program.compile(device, [y, geluErf(x)], { poison: true });
    program.write(x, Float32Array.from(values.slice(0, n)));
    program.write(g, new Float32Array(n).fill(1));
    program.run();
    const out = await program.read(y);
    program.destroy();
    const want = values.slice(0, n).map(geluErfDerivative);
    out.forEach((v, i) =>
      assert.ok(
        Number.isNaN(want[i]) ? Number.isNaN(v) : Math.abs(v - want[i]) <= 1e-6,
        `x = ${values[i]}: ${v}, expected ${want[i]}`,
      )
    );
  }
});

Deno.test("gradient graphs of elementwise ops run on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[a, b, c], feeds] = inputs([[6, 1, 33], [5, 1], [6, 5, 33]], 6, 0.5, 2);
  const y = add(mul(div(a, b), tanh(c)), sub(gelu(c), where(relu(sub(c, b)), sqrt(a), log(b))));
  const loss = sumAll(mul(y, exp(neg(c))));
  const grads = gradients(loss, [a, b, c]);
  const errs = await gpuVsCpu(device, [...grads.values()], feeds);
  assertClose(errs, 1e-4); // gradients reduce over broadcast axes
});

Deno.test("add() names both shapes when they cannot broadcast", () => {
  assert.throws(() => add(input("a", [2, 3]), input("b", [4])), {
    name: "ShapeError",
    message: "add: cannot broadcast [2,3] with [4]",
  });
  assert.throws(() => where(input("c", [2]), input("a", [3]), input("b", [3])), {
    name: "ShapeError",
    message: "where: cannot broadcast [2] with [3]",
  });
  assert.throws(() => mul(input("a", [1, 1, 1, 1, 1, 1, 2]), input("b", [2])), {
    name: "ShapeError",
    message: "mul: at most 6 dimensions are supported, found [1,1,1,1,1,1,2]",
  });
});

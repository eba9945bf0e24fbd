import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { opDef } from "../src/graph/op.ts";
import { add, div, geluGrad, mul, reluGrad, sub } from "../src/graph/ops/elementwise.ts";
import { exp, gelu, log, neg, recip, relu, scale, sqrt, square, tanh } from "../src/graph/ops/unary.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

const TOL = 1e-5;

function fed(feeds: Map<Node, Float32Array>, shape: Shape, seed: number, lo = -1, hi = 1): Node {
  const n = input(`x${seed}`, shape);
  feeds.set(n, randoms(sizeOf(shape), seed, lo, hi));
  return n;
}

/** The kernel a node lowers to. */
function kernelOf(n: Node): string {
  return opDef(n.op).gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape).calls[0].kernel;
}

function assertClose(errs: number[]): void {
  errs.forEach((e, k) => assert.ok(e <= TOL, `output ${k}: relative error ${e} > ${TOL}`));
}

// [a, b, whether the four-a-lane kernel applies]
const CASES: [Shape, Shape, boolean][] = [
  [[6, 5, 12], [6, 5, 12], true], // same shape
  [[6, 5, 12], [12], true], // bias under [..., N]
  [[4], [6, 5, 4], true], // bias on the left
  [[1, 5, 12], [6, 5, 12], true], // pos_embed-like, leading 1 kept
  [[6, 5, 12], [], true], // one value
  [[1, 1], [7, 4], true], // one value with axes
  [[6, 5, 12], [5, 1], false], // inner broadcast: general kernel
  [[6, 5, 6], [6], false], // period not a multiple of 4: general kernel
  [[3, 5], [3, 5], false], // size not a multiple of 4
];

Deno.test("add/sub/mul/div() four a lane match float64 for same-shape, periodic and one-value inputs", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [i, [sa, sb, vec]] of CASES.entries()) {
    const feeds = new Map<Node, Float32Array>();
    const a = fed(feeds, sa, 20 * i);
    const b = fed(feeds, sb, 20 * i + 1, 0.5, 2); // away from 0 for div
    const outs = [add(a, b), sub(a, b), mul(a, b), div(a, b), sub(b, a), div(b, a)];
    for (const o of outs) assert.equal(kernelOf(o), vec ? "binary_vec" : "binary", `case ${i}`);
    assertClose(await gpuVsCpu(device, outs, feeds));
  }
});

Deno.test("relu_grad and gelu_grad four a lane match float64", async () => {
  const device = await testDevice();
  if (!device) return;
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, [9, 204], 1, -4, 4);
  const g = fed(feeds, [9, 204], 2, -4, 4);
  // gelu' has a root at x = -0.7518, where its float32 value (scalar kernel or this one alike, and a float32
  // evaluation on the host too) is off by up to 1.5e-5 relative: inputs near it are moved away.
  const xs = feeds.get(x)!;
  xs.forEach((v, i) => {
    if (Math.abs(v + 0.7518) < 0.05 || Math.abs(10 * v + 0.7518) < 0.05) xs[i] = v + 0.1;
  });
  const outs = [reluGrad(x, g), geluGrad(x, g), geluGrad(scale(x, 10), g)];
  assert.equal(kernelOf(outs[0]), "binary_vec");
  assertClose(await gpuVsCpu(device, outs, feeds));
});

Deno.test("unary ops four a lane match float64, and odd sizes one a lane", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [k, shape] of ([[7, 132], [1033]] as Shape[]).entries()) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, shape, 10 * k + 1, -4, 4);
    const y = fed(feeds, shape, 10 * k + 2, 0.05, 5);
    const z = fed(feeds, shape, 10 * k + 3, -0.3, 0.3); // small arguments where tanh cancels
    const outs = [
      neg(x),
      exp(x),
      relu(x),
      gelu(x),
      tanh(x),
      tanh(z),
      square(x),
      scale(x, -1.5, 0.25),
      log(y),
      sqrt(y),
      recip(y),
      gelu(scale(x, 12)),
      tanh(scale(x, 30)),
    ];
    assertClose(await gpuVsCpu(device, outs, feeds));
  }
});

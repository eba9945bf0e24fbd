import assert from "@std/assert";
import { constant, input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { Program } from "../src/compile/program.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { softmax } from "../src/graph/ops/softmax.ts";
import { layerNorm } from "../src/graph/ops/layer_norm.ts";
import { type CrossEntropyOptions, softmaxCrossEntropy } from "../src/graph/ops/cross_entropy.ts";
import { l2Normalize } from "../src/graph/ops/normalize.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

/** Reductions and matmuls: relative error bound against float64. */
const TOL = 1e-4;

function assertClose(errs: number[], tol = TOL): void {
  errs.forEach((e, k) => assert.ok(e <= tol, `output ${k}: relative error ${e} > ${tol}`));
}

/** An input of `shape` with random values in [lo, hi), added to `feeds`. */
function fed(feeds: Map<Node, Float32Array>, shape: Shape, seed: number, lo = -1, hi = 1): Node {
  const x = input(`x${seed}`, shape);
  feeds.set(x, randoms(sizeOf(shape), seed, lo, hi));
  return x;
}

/** Gradients of sum(out * R) (R random) with respect to `wrt`: the backward kernels, run as a graph. */
function backward(out: Node, wrt: Node[], seed = 99): Node[] {
  const loss = sumAll(mul(out, constant(randoms(out.size, seed), out.shape, "R")));
  const g = gradients(loss, wrt);
  return wrt.map((w) => g.get(w)!);
}

Deno.test("softmax() matches float64 forward and backward: short, size-1, long and causal rows", async () => {
  const device = await testDevice();
  if (!device) return;
  const shapes: [Shape, boolean][] = [[[3, 7], false], [[5, 1], false], [[2, 1531], false], [
    [2, 3, 9, 9],
    true,
  ], [
    [1, 70, 70],
    true,
  ]];
  for (const [i, [shape, causal]] of shapes.entries()) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, shape, i + 1, -4, 4);
    const y = softmax(x, { causal });
    assertClose(await gpuVsCpu(device, [y, ...backward(y, [x])], feeds));
  }
});

Deno.test("softmax() causal gives exact zeros above the diagonal", async () => {
  const device = await testDevice();
  if (!device) return;
  const x = input("x", [2, 5, 5]);
  const program = await Program.compile(device, [softmax(x, { causal: true })], { poison: true });
  program.write(x, randoms(50, 3));
  program.run();
  const y = await program.read(program.slots.keys().next().value!);
  assert.ok(y.length === 50);
  const out = await program.read([...program.slots.keys()].find((n) => n.op === "softmax")!);
  for (let b = 0; b < 2; b++) {
    for (let q = 0; q < 5; q++) {
      for (let k = q + 1; k < 5; k++) assert.equal(out[b * 25 + q * 5 + k], 0);
    }
  }
  program.destroy();
});

Deno.test("layerNorm() matches float64 for x, gamma, beta and their gradients", async () => {
  const device = await testDevice();
  if (!device) return;
  // [70, 9] spans three 32-row chunks of the gamma gradient. (With 2 columns dx is identically 0: not tested.)
  const shapes: Shape[] = [[4, 5, 37], [3, 1200], [70, 9], [1, 1, 3]];
  for (const [i, shape] of shapes.entries()) {
    const feeds = new Map<Node, Float32Array>();
    const len = shape[shape.length - 1];
    const x = fed(feeds, shape, 10 + i, -1, 2);
    const gamma = fed(feeds, [len], 20 + i, 0.5, 1.5);
    const beta = fed(feeds, [len], 30 + i);
    const y = layerNorm(x, gamma, beta);
    assertClose(await gpuVsCpu(device, [y, ...backward(y, [x, gamma, beta])], feeds));
  }
});

Deno.test("layerNorm() keeps its accuracy when the mean is 1000 times the spread", async () => {
  const device = await testDevice();
  if (!device) return;
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, [2, 300], 50);
  feeds.set(x, feeds.get(x)!.map((v) => 1000 + v));
  const gamma = fed(feeds, [300], 51, 0.5, 1.5);
  const beta = fed(feeds, [300], 52);
  // Plain f32 sums of x would put an error of 1e-4 of the spread into the mean (ulp of 300,000 is 0.03).
  const y = layerNorm(x, gamma, beta);
  assertClose(await gpuVsCpu(device, [y, ...backward(y, [x, gamma])], feeds));
});

/** Random cosines in [-1, 1) with the labels' entries set to `targets` (so both ArcFace branches occur). */
function cosines(N: number, C: number, seed: number, targets: number[]): [Float32Array, Float32Array] {
  const x = randoms(N * C, seed);
  const labels = Float32Array.from({ length: N }, (_, r) => (r * 7 + 3) % C);
  labels.forEach((l, r) => x[r * C + l] = targets[r % targets.length]);
  return [x, labels];
}

Deno.test("softmaxCrossEntropy() matches float64 for every kind, short and long rows, with gradients", async () => {
  const device = await testDevice();
  if (!device) return;
  const kinds: CrossEntropyOptions[] = [
    { kind: "none", scale: 1, margin: 0 },
    { kind: "cosface", scale: 30, margin: 0.35 },
    { kind: "arcface", scale: 64, margin: 0.5 },
  ];
  for (const [N, C] of [[6, 11], [3, 1537], [1, 1]]) {
    for (const options of kinds) {
      // -0.95 lies below cos(pi - 0.5) = -0.878: ArcFace's fallback branch.
      const [values, labelValues] = cosines(N, C, N + C, [0.6, -0.95, 0.1, -0.3]);
      const logits = input("logits", [N, C]);
      const labels = input("labels", [N]);
      const feeds = new Map([[logits, values], [labels, labelValues]]);
      const loss = softmaxCrossEntropy(logits, labels, options);
      const errs = await gpuVsCpu(device, [loss, ...backward(loss, [logits])], feeds);
      assert.ok(errs.every((e) => e <= TOL), `${options.kind} [${N}, ${C}]: relative errors ${errs}`);
    }
  }
});

Deno.test("softmaxCrossEntropy() gives NaN on the GPU and throws on the CPU for a label outside [0, C)", async () => {
  const device = await testDevice();
  if (!device) return;
  const logits = input("logits", [2, 4]);
  const labels = input("labels", [2]);
  const loss = softmaxCrossEntropy(logits, labels, { kind: "none", scale: 1, margin: 0 });
  const feeds = new Map([[logits, randoms(8, 5)], [labels, Float32Array.of(1, 4)]]);
  const program = await Program.compile(device, [loss]);
  for (const [n, v] of feeds) program.write(n, v);
  program.run();
  const out = await program.read(loss);
  program.destroy();
  assert.ok(Number.isFinite(out[0]) && Number.isNaN(out[1]), `losses ${out}`);
  assert.throws(() => evaluate([loss], feeds), {
    name: "RangeError",
    message: "softmaxCrossEntropy: label 4 of row 1 is not a class index in [0, 4)",
  });
});

Deno.test("l2Normalize() matches float64, including rows whose norm is below eps", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [i, shape] of ([[5, 33], [2, 1100], [4, 1]] as Shape[]).entries()) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, shape, 40 + i);
    const y = l2Normalize(x);
    // With one column y = sign(x) and the gradient is identically 0, so only the forward is compared.
    assertClose(await gpuVsCpu(device, shape[1] === 1 ? [y] : [y, ...backward(y, [x])], feeds));
  }
  // Rows of norm about 0.1 and 3 with eps 0.5: the first is divided by eps, the second by its norm.
  const feeds = new Map<Node, Float32Array>();
  const x = input("x", [2, 3]);
  feeds.set(x, Float32Array.of(0.05, -0.07, 0.04, 1.5, -2, 1.6));
  const y = l2Normalize(x, 0.5);
  assertClose(await gpuVsCpu(device, [y, ...backward(y, [x])], feeds));
});

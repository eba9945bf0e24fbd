import assert from "node:assert/strict";
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
import { attention } from "../src/graph/ops/attention.ts";
import { loraLinear } from "../src/graph/ops/lora.ts";
import { gpuVsCpu, randoms, relError, testDevice } from "./_harness.ts";

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
  const y = softmax(x, { causal: true });
  const program = await Program.compile(device, [y], { poison: true });
  program.write(x, randoms(50, 3));
  program.run();
  const out = await program.read(y);
  program.destroy();
  for (let b = 0; b < 2; b++) {
    for (let q = 0; q < 5; q++) {
      for (let k = q + 1; k < 5; k++) assert.equal(out[b * 25 + q * 5 + k], 0);
    }
  }
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

/** float64 multi-head attention written from the model contract: qkv columns [q | k | v], head j's slice. */
function refAttention(qkv: Float32Array, B: number, T: number, d: number, heads: number, causal: boolean) {
  const dh = d / heads;
  const out = new Float64Array(B * T * d);
  const at = (b: number, t: number, part: number, h: number, c: number) =>
    qkv[(b * T + t) * 3 * d + part * d + h * dh + c];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let q = 0; q < T; q++) {
        const keys = causal ? q + 1 : T;
        const s = Array.from({ length: keys }, (_, k) => {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += at(b, q, 0, h, c) * at(b, k, 1, h, c);
          return dot / Math.sqrt(dh);
        });
        const m = Math.max(...s);
        const e = s.map((v) => Math.exp(v - m));
        const z = e.reduce((a, v) => a + v, 0);
        for (let c = 0; c < dh; c++) {
          let acc = 0;
          for (let k = 0; k < keys; k++) acc += e[k] / z * at(b, k, 2, h, c);
          out[(b * T + q) * d + h * dh + c] = acc;
        }
      }
    }
  }
  return out;
}

Deno.test("attention() matches a direct float64 multi-head attention, and its backward matches float64", async () => {
  const device = await testDevice();
  if (!device) return;
  const cases: [number, number, number, number, boolean][] = [[2, 5, 12, 3, false], [2, 7, 8, 2, true], [
    1,
    17,
    20,
    4,
    true,
  ]];
  for (const [i, [B, T, d, heads, causal]] of cases.entries()) {
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, [B, T, 3 * d], 60 + i, -2, 2);
    const y = attention(qkv, { heads, causal });
    const program = await Program.compile(device, [y], { poison: true });
    program.write(qkv, feeds.get(qkv)!);
    program.run();
    const err = relError(await program.read(y), refAttention(feeds.get(qkv)!, B, T, d, heads, causal));
    program.destroy();
    assert.ok(err <= TOL, `attention case ${i}: relative error ${err} against the direct reference`);
    assertClose(await gpuVsCpu(device, backward(y, [qkv]), feeds));
  }
});

Deno.test("loraLinear() matches x W^T + b + s g (x A1^T) B1^T + s (1 - g) (x A2^T) B2^T on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  const [batch, T, inDim, out, r, s] = [3, 5, 13, 7, 2, 0.75];
  for (const tokens of [true, false]) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, tokens ? [batch, T, inDim] : [batch, inDim], 70);
    const W = fed(feeds, [out, inDim], 71);
    const bias = fed(feeds, [out], 72);
    const [A1, B1, A2, B2] = [
      fed(feeds, [r, inDim], 73),
      fed(feeds, [out, r], 74),
      fed(feeds, [r, inDim], 75),
      fed(
        feeds,
        [out, r],
        76,
      ),
    ];
    const gate = fed(feeds, [batch], 77, 0.2, 0.9);
    const y = loraLinear(x, W, bias, [
      { A: A1, B: B1, scale: s, gate },
      { A: A2, B: B2, scale: s, gate, gateComplement: true },
    ]);
    const v = (n: Node) => feeds.get(n)!;
    const rows = tokens ? batch * T : batch;
    const ref = new Float64Array(rows * out);
    for (let row = 0; row < rows; row++) {
      const g = v(gate)[Math.floor(row / (tokens ? T : 1))];
      const xr = (c: number) => v(x)[row * inDim + c];
      const low = (A: Node) =>
        Array.from({ length: r }, (_, k) => {
          let acc = 0;
          for (let c = 0; c < inDim; c++) acc += xr(c) * v(A)[k * inDim + c];
          return acc;
        });
      const h1 = low(A1), h2 = low(A2);
      for (let o = 0; o < out; o++) {
        let acc = v(bias)[o];
        for (let c = 0; c < inDim; c++) acc += xr(c) * v(W)[o * inDim + c];
        for (let k = 0; k < r; k++) {
          acc += s * (g * h1[k] * v(B1)[o * r + k] + (1 - g) * h2[k] * v(B2)[o * r + k]);
        }
        ref[row * out + o] = acc;
      }
    }
    const program = await Program.compile(device, [y], { poison: true });
    for (const [n, data] of feeds) program.write(n, data);
    program.run();
    const err = relError(await program.read(y), ref);
    program.destroy();
    assert.ok(err <= TOL, `loraLinear tokens=${tokens}: relative error ${err} against the direct reference`);
    assertClose(await gpuVsCpu(device, [y, ...backward(y, [x, A1, B1, A2, B2, gate])], feeds));
  }
});

/**
 * The composite ops of the Llama family (rmsNorm, rotary, silu): their float64 graph values against direct
 * float64 formulas, the GPU against float64 on awkward shapes (outputs NaN-poisoned), and gradients against
 * finite differences.
 */
import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { rmsNorm } from "../src/graph/ops/rms_norm.ts";
import { rotary, rotaryTables } from "../src/graph/ops/rotary.ts";
import { silu } from "../src/graph/ops/unary.ts";
import { gpuVsCpu, gradCheck, randoms, relError, testDevice } from "./_harness.ts";

/** GPU float32 against float64, as for the primitive ops these are built from. */
const GPU_TOL = 1e-5;
/** The graph in float64 against the written-out formula (same maths, different order of sums). */
const F64_TOL = 1e-12;
/** Finite differences (h = 1e-6) as in tests/grad_fused_test.ts. */
const GRAD_TOL = 1e-6;

function fed(
  feeds: Map<Node, Float32Array>,
  name: string,
  shape: Shape,
  seed: number,
  lo = -1,
  hi = 1,
): Node {
  const x = input(name, shape);
  feeds.set(x, randoms(sizeOf(shape), seed, lo, hi));
  return x;
}

function refRmsNorm(x: Float32Array, w: Float32Array, d: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ss = 0;
    for (let c = 0; c < d; c++) ss += x[r * d + c] ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let c = 0; c < d; c++) out[r * d + c] = x[r * d + c] * inv * w[c];
  }
  return out;
}

/** Rotation of x [B, T, H, dh] pair by pair: (x_i, x_{i+dh/2}) turned by t theta^(-2i/dh). */
function refRotary(x: Float32Array, [B, T, H, dh]: number[], theta: number): Float64Array {
  const out = new Float64Array(x.length);
  const half = dh / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const o = ((b * T + t) * H + h) * dh;
        for (let i = 0; i < half; i++) {
          const a = t * theta ** (-(2 * i) / dh);
          // the tables are float32 constants in the graph
          const c = Math.fround(Math.cos(a)), s = Math.fround(Math.sin(a));
          out[o + i] = x[o + i] * c - x[o + i + half] * s;
          out[o + i + half] = x[o + i + half] * c + x[o + i] * s;
        }
      }
    }
  }
  return out;
}

Deno.test("rmsNorm() matches its formula in float64 and on the GPU, on awkward widths", async () => {
  const device = await testDevice();
  for (const [i, shape] of ([[3, 5, 7], [2, 61], [1, 1, 3], [4, 130]] as Shape[]).entries()) {
    const feeds = new Map<Node, Float32Array>();
    const d = shape[shape.length - 1];
    const x = fed(feeds, "x", shape, 10 + i, -2, 2);
    const w = fed(feeds, "w", [d], 20 + i, 0.5, 1.5);
    const y = rmsNorm(x, w, 1e-6);
    const f64 = evaluate([y], feeds).get(y)!;
    const err = relError(f64, refRmsNorm(feeds.get(x)!, feeds.get(w)!, d, 1e-6));
    assert.ok(err <= F64_TOL, `rmsNorm ${shape}: float64 error ${err}`);
    if (device) {
      const [e] = await gpuVsCpu(device, [y], feeds);
      assert.ok(e <= GPU_TOL, `rmsNorm ${shape}: GPU error ${e} > ${GPU_TOL}`);
    }
  }
});

Deno.test("rotary() matches pairwise rotation in float64 and on the GPU", async () => {
  const device = await testDevice();
  for (
    const [i, [shape, theta]] of ([[[2, 5, 3, 6], 10000], [[1, 9, 1, 2], 500], [[3, 4, 2, 14], 1e6]] as [
      number[],
      number,
    ][]).entries()
  ) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, "x", shape, 30 + i);
    const y = rotary(x, theta);
    const f64 = evaluate([y], feeds).get(y)!;
    const err = relError(f64, refRotary(feeds.get(x)!, shape, theta));
    assert.ok(err <= F64_TOL, `rotary ${shape}: float64 error ${err}`);
    if (device) {
      const [e] = await gpuVsCpu(device, [y], feeds);
      assert.ok(e <= GPU_TOL, `rotary ${shape}: GPU error ${e} > ${GPU_TOL}`);
    }
  }
});

Deno.test("rotaryTables() repeats each angle in both halves and starts at angle 0", () => {
  const { cos, sin } = rotaryTables(3, 4, 100);
  assert.deepEqual(Array.from(cos.subarray(0, 4)), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(sin.subarray(0, 4)), [0, 0, 0, 0]);
  // t = 2, i = 1: angle 2 * 100^(-1/2) = 0.2
  assert.equal(sin[2 * 4 + 1], Math.fround(Math.sin(0.2)));
  assert.equal(sin[2 * 4 + 3], Math.fround(Math.sin(0.2)));
});

Deno.test("silu() matches x / (1 + e^-x) and stays finite far out, on the GPU too", async () => {
  const device = await testDevice();
  const feeds = new Map<Node, Float32Array>();
  const x = input("x", [5, 41]);
  const values = randoms(5 * 41, 40, -8, 8);
  values.set([-200, -90, 0, 90, 200], 0);
  feeds.set(x, values);
  const y = silu(x);
  const f64 = evaluate([y], feeds).get(y)!;
  const ref = Float64Array.from(values, (v) => v / (1 + Math.exp(-v)));
  const err = relError(f64, ref);
  assert.ok(err <= F64_TOL, `silu float64 error ${err}`);
  if (device) {
    const [e] = await gpuVsCpu(device, [y], feeds);
    assert.ok(e <= GPU_TOL, `silu GPU error ${e} > ${GPU_TOL}`);
  }
});

Deno.test("rmsNorm(), rotary() and silu() gradients match finite differences", () => {
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, "x", [2, 3, 5], 50, -2, 2);
  const w = fed(feeds, "w", [5], 51, 0.5, 1.5);
  const r = fed(feeds, "r", [2, 3, 2, 4], 52);
  const s = fed(feeds, "s", [3, 7], 53, -4, 4);
  for (
    const [what, out, wrt] of [["rmsNorm", rmsNorm(x, w, 1e-6), [x, w]], ["rotary", rotary(r, 100), [r]], [
      "silu",
      silu(s),
      [s],
    ]] as [string, Node, Node[]][]
  ) {
    const err = gradCheck(out, wrt, feeds);
    assert.ok(err <= GRAD_TOL, `${what}: relative error ${err} > ${GRAD_TOL}`);
  }
});

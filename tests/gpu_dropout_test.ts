import assert from "node:assert/strict";
import { evaluate as cpuEvaluate } from "../src/graph/cpu.ts";
import { input, type Node } from "../src/graph/node.ts";
import { dropout } from "../src/graph/ops/dropout.ts";
import { gpuVsCpu, gradCheck, randoms, testDevice } from "./_harness.ts";

Deno.test("dropout() on the GPU draws exactly the float64 reference's mask", async () => {
  const device = await testDevice();
  if (!device) return;
  const x = input("x", [37, 29]);
  const seed = input("seed", [1]);
  const y = dropout(x, seed, 0.3, 12345);
  const errs = await gpuVsCpu(
    device,
    [y],
    new Map([[x, randoms(37 * 29, 1, 0.5, 1.5)], [seed, new Float32Array([77])]]),
  );
  assert.ok(errs[0] <= 1e-6, `relative error ${errs[0]}`);
});

Deno.test("dropout() drops about p of the elements and keeps the mean", () => {
  const x = input("x", [100000]);
  const seed = input("seed", [1]);
  const p = 0.1;
  const xs = new Float32Array(100000).fill(1);
  const y = dropout(x, seed, p, 7);
  const values = evalOne(y, new Map([[x, xs], [seed, new Float32Array([3])]]));
  const zeros = values.filter((v) => v === 0).length / values.length;
  // 100,000 Bernoulli(0.1) draws: standard error 0.00095; 5 standard errors is 0.0048.
  assert.ok(Math.abs(zeros - p) < 0.0048, `dropped fraction ${zeros}`);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  assert.ok(Math.abs(mean - 1) < 0.006, `mean ${mean}`);
});

Deno.test("dropout() gradient equals finite differences (same mask), and a new seed draws a new mask", () => {
  const x = input("x", [5, 7]);
  const seed = input("seed", [1]);
  const y = dropout(x, seed, 0.4, 99);
  const feeds = new Map([[x, randoms(35, 2)], [seed, new Float32Array([5])]]);
  assert.ok(gradCheck(y, [x], feeds) <= 1e-6);
  const a = evalOne(y, feeds);
  const b = evalOne(y, new Map([[x, feeds.get(x)!], [seed, new Float32Array([6])]]));
  assert.notDeepEqual(Array.from(a).map((v) => v === 0), Array.from(b).map((v) => v === 0));
});

function evalOne(n: Node, feeds: Map<Node, Float32Array>): Float64Array {
  return cpuEvaluate([n], feeds).get(n)!;
}

import assert from "node:assert/strict";
import { initAdapters, kaimingUniformBound } from "../src/adapters/init.ts";
import type { Placement } from "../src/adapters/placement.ts";

function placement(init: Placement["init"], gated = false): Placement {
  return { path: "x", in: 1024, out: 16, adapter: 0, rank: 8, scale: 1, gated, dropout: 0, init };
}

function moments(x: Float32Array): { mean: number; variance: number } {
  const mean = x.reduce((s, v) => s + v, 0) / x.length;
  return { mean, variance: x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length };
}

Deno.test("initAdapters() gaussian: A ~ N(0, 1/r) with 1/r the variance, B = 0", () => {
  const [w] = initAdapters([placement("gaussian", true)], 1);
  assert.equal(w.branches.length, 2);
  for (const { a, b } of w.branches) {
    assert.equal(a.length, 8 * 1024);
    assert.ok(b.every((v) => v === 0));
    const { mean, variance } = moments(a);
    // 8192 samples: the mean's std is sqrt(1/8 / 8192) ~ 0.004, the variance's ~ 0.125 * sqrt(2/8192) ~ 0.002
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(variance - 0.125) < 0.01, `variance ${variance}`);
  }
  assert.notDeepEqual(w.branches[0].a, w.branches[1].a);
});

Deno.test("initAdapters() kaiming: uniform within PEFT's bound sqrt(1/fan_in)", () => {
  // a = sqrt(5): sqrt(6 / ((1 + 5) * 1024)) = 1 / 32, up to the rounding of sqrt(5)^2
  assert.ok(Math.abs(kaimingUniformBound(1024) - 1 / 32) < 1e-15);
  assert.ok(Math.abs(kaimingUniformBound(100, 0) - Math.sqrt(0.06)) < 1e-15);
  const bound = 1 / 32; // sqrt(1 / 1024)
  const [w] = initAdapters([placement("kaiming")], 1);
  const { a } = w.branches[0];
  assert.ok(a.every((v) => Math.abs(v) <= bound));
  // uniform on [-c, c] has variance c^2 / 3
  const { variance } = moments(a);
  assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.05, `variance ${variance}`);
});

Deno.test("initAdapters() is determined by the seed", () => {
  const p = [placement("gaussian"), placement("kaiming", true)];
  assert.deepEqual(initAdapters(p, 5), initAdapters(p, 5));
  assert.notDeepEqual(initAdapters(p, 5)[0].branches[0].a, initAdapters(p, 6)[0].branches[0].a);
  // each placement and branch has its own stream
  const gated = initAdapters([placement("gaussian", true)], 5)[0].branches;
  assert.notDeepEqual(gated[0].a, gated[1].a);
});

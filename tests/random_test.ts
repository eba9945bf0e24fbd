import assert from "node:assert/strict";
import { permutation, Rng } from "../src/random.ts";

Deno.test("Rng.u32() matches the xoshiro128** reference sequence from state [1, 2, 3, 4]", () => {
  // Reference values from the algorithm's published definition (computed independently in Python).
  const rng = Rng.fromState([1, 2, 3, 4]);
  const got = Array.from({ length: 6 }, () => rng.u32());
  assert.deepEqual(got, [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  assert.deepEqual(rng.state(), [1110993931, 286554632, 2431677446, 2165318166]);
});

Deno.test("Rng.state() round-trips through JSON and continues the same stream", () => {
  const a = new Rng(42, 7);
  for (let i = 0; i < 10; i++) a.u32();
  const b = Rng.fromState(JSON.parse(JSON.stringify(a.state())));
  for (let i = 0; i < 100; i++) assert.equal(b.float(), a.float());
});

Deno.test("Rng() streams differ by seed and by key, and are reproducible", () => {
  const draw = (seed: number, ...keys: number[]): number[] => {
    const r = new Rng(seed, ...keys);
    return Array.from({ length: 4 }, () => r.u32());
  };
  assert.deepEqual(draw(1), draw(1));
  assert.notDeepEqual(draw(1), draw(2));
  assert.notDeepEqual(draw(1, 0), draw(1, 1));
  assert.notDeepEqual(draw(2 ** 40), draw(0)); // high seed bits matter
});

Deno.test("Rng.int() and Rng.float() stay in range and are roughly uniform", () => {
  const rng = new Rng(3);
  const counts = new Array(7).fill(0);
  const n = 70_000;
  for (let i = 0; i < n; i++) {
    const f = rng.float();
    assert.ok(f >= 0 && f < 1);
    counts[rng.int(7)]++;
  }
  // Each bin ~ Binomial(n, 1/7): 4 standard errors is about 370.
  const se = Math.sqrt(n * (1 / 7) * (6 / 7));
  for (const c of counts) assert.ok(Math.abs(c - n / 7) < 4 * se, `bin count ${c}`);
});

Deno.test("Rng.normal() has mean 0 and variance 1 within 4 standard errors", () => {
  const rng = new Rng(5);
  const n = 40_000;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const z = rng.normal();
    sum += z;
    sumSq += z * z;
  }
  assert.ok(Math.abs(sum / n) < 4 / Math.sqrt(n));
  assert.ok(Math.abs(sumSq / n - 1) < 4 * Math.sqrt(2 / n));
});

Deno.test("permutation() is a seeded permutation of 0..n-1", () => {
  const p = permutation(1000, 9, 1);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(p, permutation(1000, 9, 1));
  assert.notDeepEqual(p, permutation(1000, 9, 2));
});

Deno.test("Rng.fromState() rejects a malformed or all-zero state", () => {
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), {
    name: "RangeError",
    message: "rng state must be four unsigned 32-bit integers, not all zero; found [0,0,0,0]",
  });
  assert.throws(() => Rng.fromState([1, 2, 3] as unknown as [number, number, number, number]), {
    message: "rng state must be four unsigned 32-bit integers, not all zero; found [1,2,3]",
  });
});

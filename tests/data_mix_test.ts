import assert from "node:assert/strict";
import {
  scalarizationWeights,
  temperatureProbabilities,
  weightProbabilities,
} from "../src/data/mix/temperature.ts";
import { unimaxAllocation, unimaxProbabilities } from "../src/data/mix/unimax.ts";
import { checkStrategy, mixAt } from "../src/data/mix/strategy.ts";

function close(actual: number[], expected: number[], tol = 1e-12): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `index ${i}: ${a} vs ${expected[i]}`));
}

Deno.test("temperatureProbabilities() matches n^(1/T) / sum by hand", () => {
  close(temperatureProbabilities([900, 100], 1), [0.9, 0.1]);
  close(temperatureProbabilities([900, 100], 2), [0.75, 0.25]); // sqrt: 30 and 10
  close(temperatureProbabilities([8, 1, 27], 3), [2 / 6, 1 / 6, 3 / 6]); // cube roots 2, 1, 3
  close(temperatureProbabilities([5, 5, 5], 0.3), [1 / 3, 1 / 3, 1 / 3]);
});

Deno.test("temperatureProbabilities() stays finite for huge sizes and extreme temperatures", () => {
  const cold = temperatureProbabilities([1e15, 1], 0.01); // 1e15^100 overflows without log space
  assert.deepEqual(cold, [1, 0]);
  const hot = temperatureProbabilities([19_000_000, 40_000, 1], 1e6);
  hot.forEach((p) => assert.ok(Math.abs(p - 1 / 3) < 1e-4));
  assert.ok(Math.abs(hot.reduce((a, b) => a + b) - 1) < 1e-12);
});

Deno.test("scalarizationWeights() equals p(i; T) / p(i; 1)", () => {
  const sizes = [300_000, 20_000, 600];
  for (const t of [1, 2, 5, 100]) {
    const pt = temperatureProbabilities(sizes, t);
    const p1 = temperatureProbabilities(sizes, 1);
    close(scalarizationWeights(sizes, t), pt.map((p, i) => p / p1[i]), 1e-9);
  }
  close(scalarizationWeights([900, 100], 2), [0.75 / 0.9, 0.25 / 0.1]);
  close(scalarizationWeights([1, 2, 3], 1), [1, 1, 1]);
});

Deno.test("weightProbabilities() accepts weights summing to 1 and normalises relative ones", () => {
  close(weightProbabilities([10, 20, 30], [0.5, 0.25, 0.25]), [0.5, 0.25, 0.25]);
  close(weightProbabilities([10, 20, 30], [2, 1, 1], true), [0.5, 0.25, 0.25]);
});

Deno.test("unimaxAllocation() matches the hand-worked example", () => {
  // sizes [1000, 10, 5000, 100], budget B = 4000, cap N = 4 epochs; smallest first:
  //   n=10:   min(4000 / 4 = 1000, 4 * 10   = 40)    = 40    remaining 3960
  //   n=100:  min(3960 / 3 = 1320, 4 * 100  = 400)   = 400   remaining 3560
  //   n=1000: min(3560 / 2 = 1780, 4 * 1000 = 4000)  = 1780  remaining 1780
  //   n=5000: min(1780 / 1 = 1780, 4 * 5000 = 20000) = 1780  remaining 0
  close(unimaxAllocation([1000, 10, 5000, 100], 4000, 4), [1780, 40, 1780, 400]);
  close(unimaxProbabilities([1000, 10, 5000, 100], 4000, 4), [0.445, 0.01, 0.445, 0.1]);
});

Deno.test("unimaxAllocation() is uniform when no cap binds", () => {
  close(unimaxAllocation([100, 200, 300], 300, 10), [100, 100, 100]);
});

Deno.test("mixAt() gives scalarization proportional draws and p(T)/p(1) weights", () => {
  const sizes = [900, 100];
  const at = mixAt({ kind: "scalarization", schedule: { kind: "constant", temperature: 2 } }, sizes, 0, 10);
  close(at.probabilities, [0.9, 0.1]);
  close(at.weights, [0.75 / 0.9, 0.25 / 0.1]);
  assert.equal(at.temperature, 2);
  const u = mixAt({ kind: "unimax", budget: 4000, epochs: 4 }, [1000, 10, 5000, 100], 3, 10);
  close(u.weights, [1, 1, 1, 1]);
  assert.equal(u.temperature, null);
});

Deno.test("invalid mixing settings throw MixError with exact messages", () => {
  const cases: [() => unknown, string][] = [
    [() => temperatureProbabilities([1, 2], 0), "temperature must be a positive finite number, found 0"],
    [() => temperatureProbabilities([1, 2], -1), "temperature must be a positive finite number, found -1"],
    [
      () => temperatureProbabilities([1, 2], Infinity),
      "temperature must be a positive finite number, found Infinity",
    ],
    [() => temperatureProbabilities([], 1), "sizes must list at least one domain, found none"],
    [
      () => temperatureProbabilities([10, 0], 1),
      "sizes must be positive integers (examples per domain), found 0 at index 1",
    ],
    [
      () => weightProbabilities([1, 2], [0.5, 0.4]),
      "weights must sum to 1 (within 1e-6), found 0.9 for [0.5, 0.4]; pass normalize: true to use them as relative weights",
    ],
    [() => weightProbabilities([1, 2], [1]), "weights has 1 entries but there are 2 domains"],
    [
      () => weightProbabilities([1, 2], [1.5, -0.5]),
      "weights must be non-negative finite numbers, found -0.5 at index 1",
    ],
    [
      () => weightProbabilities([1, 2], [0, 0], true),
      "weights must have a positive sum to be normalised, found 0",
    ],
    [() => unimaxAllocation([10, 20], 0, 4), "unimax budget must be a positive number of examples, found 0"],
    [() => unimaxAllocation([10, 20], 100, 0), "unimax epochs must be a positive number, found 0"],
    [
      () => unimaxAllocation([10, 20], 100, 2),
      "unimax budget 100 examples exceeds what 2 epochs of every domain hold (60); raise epochs or lower the budget",
    ],
    [
      () => checkStrategy({ kind: "uniform" } as never, [1]),
      'strategy kind must be "temperature", "scalarization", "weights" or "unimax", found "uniform"',
    ],
  ];
  for (const [fn, message] of cases) assert.throws(fn, { name: "MixError", message });
});

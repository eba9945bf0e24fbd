import assert from "node:assert/strict";
import { GateError, gateHistogram, type GateMapping, gateValue, gateValues } from "../src/adapters/gate.ts";
import {
  fitQualityScale,
  normalizeQualities,
  normalizeQuality,
  QualityScaleError,
} from "../src/adapters/quality_scale.ts";

Deno.test("gateValues() petalface: 0.5 + (score - threshold), clamped unless asked not to", () => {
  const scores = [0.5, 1, 0, -1];
  // threshold 0.25: 0.75, 1.25 -> 1, 0.25, -0.75 -> 0
  assert.deepEqual(
    gateValues({ kind: "petalface", threshold: 0.25 }, scores),
    Float32Array.of(0.75, 1, 0.25, 0),
  );
  assert.deepEqual(
    gateValues({ kind: "petalface", threshold: 0.25, clamp: false }, scores),
    Float32Array.of(0.75, 1.25, 0.25, -0.75),
  );
});

Deno.test("gateValue() linear, sigmoid and hard threshold mappings", () => {
  const linear: GateMapping = { kind: "linear", low: 1, high: 3 };
  assert.deepEqual([0, 1, 1.5, 2, 3, 5].map((s) => gateValue(linear, s)), [0, 0, 0.25, 0.5, 1, 1]);
  const sigmoid: GateMapping = { kind: "sigmoid", center: 0.5, temperature: 0.1 };
  assert.equal(gateValue(sigmoid, 0.5), 0.5);
  // 1 / (1 + exp(-ln 3)) = 1 / (1 + 1/3) = 0.75
  assert.ok(Math.abs(gateValue(sigmoid, 0.5 + 0.1 * Math.log(3)) - 0.75) < 1e-7);
  assert.ok(Math.abs(gateValue(sigmoid, 0.5 - 0.1 * Math.log(3)) - 0.25) < 1e-7);
  const hard: GateMapping = { kind: "threshold", threshold: 0.5 };
  assert.deepEqual([0.49, 0.5, 0.9].map((s) => gateValue(hard, s)), [0, 1, 1]);
});

Deno.test("gateValues() rejects invalid settings and NaN scores", () => {
  assert.throws(
    () => gateValue({ kind: "linear", low: 2, high: 2 }, 0),
    (e: Error) =>
      e instanceof GateError &&
      e.message === "linear gate: high must be greater than low, found low 2 and high 2",
  );
  assert.throws(
    () => gateValue({ kind: "sigmoid", center: Number.NaN, temperature: 0 }, 0),
    (e: Error) =>
      e.message === "sigmoid gate: center must be a finite number, found NaN; " +
          "sigmoid gate: temperature must be a positive number, found 0",
  );
  assert.throws(
    () => gateValues({ kind: "threshold", threshold: 0 }, [0, Number.NaN]),
    (e: Error) => e.message === "quality score 1 is NaN",
  );
});

Deno.test("fitQualityScale() takes the 1st and 99th percentiles by default", () => {
  const raw = Float32Array.from({ length: 101 }, (_, i) => i); // 0..100: percentile p sits at value p
  assert.deepEqual(fitQualityScale(raw), { low: 1, high: 99 });
  assert.deepEqual(fitQualityScale(raw, { lowPercentile: 0, highPercentile: 100 }), { low: 0, high: 100 });
  // 4 values: the median sits at position 1.5, halfway between 20 and 30
  assert.deepEqual(fitQualityScale([40, 10, 30, 20], { lowPercentile: 50, highPercentile: 100 }), {
    low: 25,
    high: 40,
  });
  const scale = fitQualityScale(raw);
  assert.equal(normalizeQuality(50, scale), 0.5); // (50 - 1) / (99 - 1)
  assert.deepEqual(normalizeQualities([0, 1, 99, 100, 25.5], scale), Float32Array.of(0, 0, 1, 1, 0.25)); // (25.5 - 1) / 98
});

Deno.test("fitQualityScale() refuses data that cannot define a scale", () => {
  const refuses = (raw: number[], message: string): void => {
    assert.throws(
      () => fitQualityScale(raw),
      (e: Error) => e instanceof QualityScaleError && e.message === message,
    );
  };
  refuses([], "cannot fit a quality scale to zero scores");
  refuses(
    [3, 3, 3],
    "reference scores give an empty scale (percentile 1 = 3, percentile 99 = 3): the scores do not vary",
  );
  refuses([1, Number.POSITIVE_INFINITY], "reference scores must be finite, found Infinity");
  assert.throws(() => normalizeQuality(Number.NaN, { low: 0, high: 1 }), /quality score is NaN/);
});

Deno.test("gateHistogram() bins gate values per domain", () => {
  const g = Float32Array.of(0, 0.125, 0.5, 0.25, 0.875, 1, -0.25, 1.5);
  const domain = Int32Array.of(0, 0, 0, 1, 1, 1, 0, 1);
  // 4 bins of width 0.25; 1 falls in the last bin; -0.25 and 1.5 are counted outside
  assert.deepEqual(gateHistogram(g, domain, ["hr", "lr", "empty"], 4), [
    { domain: "hr", count: 4, mean: (0 + 0.125 + 0.5 - 0.25) / 4, bins: [2, 0, 1, 0], below: 1, above: 0 },
    { domain: "lr", count: 4, mean: (0.25 + 0.875 + 1 + 1.5) / 4, bins: [0, 1, 0, 2], below: 0, above: 1 },
    { domain: "empty", count: 0, mean: null, bins: [0, 0, 0, 0], below: 0, above: 0 },
  ]);
  assert.throws(
    () => gateHistogram(g, Int32Array.of(0, 0, 0, 1, 1, 1, 0, 3), ["hr", "lr"]),
    (e: Error) => e.message === "domain index 3 at example 7 is outside [0, 2)",
  );
});

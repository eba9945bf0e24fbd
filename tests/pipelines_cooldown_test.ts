import assert from "node:assert/strict";
import { bootstrapRatio, gradientStats } from "../pipelines/cooldown_variance.ts";

Deno.test("gradientStats() gives norm variance and the trace of the covariance", () => {
  const s = gradientStats([Float32Array.of(3, 4), Float32Array.of(0, 0), Float32Array.of(6, 8)]);
  assert.deepEqual([...s.norms], [5, 0, 10]);
  assert.equal(s.meanNorm, 5);
  assert.equal(s.normVariance, 25);
  assert.deepEqual([...s.mean], [3, 4]);
  assert.deepEqual([...s.deviations], [0, 25, 25]);
  assert.equal(s.traceCovariance, 25);
  assert.throws(() => gradientStats([Float32Array.of(1)]), {
    message: "gradient statistics need at least 2 batches, found 1",
  });
});

Deno.test("bootstrapRatio() brackets the ratio of a statistic", () => {
  const mean = (xs: Float64Array) => xs.reduce((a, x) => a + x, 0) / xs.length;
  assert.deepEqual(bootstrapRatio(new Float64Array(5).fill(6), new Float64Array(7).fill(3), mean, 50, 1), [
    2,
    2,
  ]);
  const [lo, hi] = bootstrapRatio(Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 2, 3, 4), mean, 500, 1);
  assert.ok(lo < 1 && hi > 1, `${lo} to ${hi}`);
});

import assert from "node:assert/strict";
import { gradientEnergy, laplacianVariance, qualityScores } from "../src/data/quality.ts";
import { downsampleUpsample, gaussianBlur } from "../src/data/transforms/degrade.ts";
import { loadMnist } from "../src/data/sources/mnist.ts";

Deno.test("laplacianVariance() and gradientEnergy() match hand-computed values", () => {
  // 3 x 3 with a single bright centre: one interior pixel, Laplacian -4, variance 0 (one sample).
  const dot = Float32Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]);
  assert.equal(laplacianVariance(dot, 3), 0);
  assert.equal(gradientEnergy(dot, 3), 0); // central differences around the centre cancel
  // 4 x 4 ramp v = x: gx = 1 everywhere inside, gy = 0 -> energy 1; Laplacian 0 -> variance 0.
  const ramp = Float32Array.from({ length: 16 }, (_, i) => i % 4);
  assert.equal(gradientEnergy(ramp, 4), 1);
  assert.equal(laplacianVariance(ramp, 4), 0);
  // 4 x 4 checkerboard: interior Laplacians are -4 (on 1s) and +4 (on 0s), two of each -> variance 16.
  const checker = Float32Array.from({ length: 16 }, (_, i) => ((i % 4) + Math.floor(i / 4)) % 2);
  assert.equal(laplacianVariance(checker, 4), 16);
});

Deno.test("qualityScores() ranks sharp digits above their blurred and low-resolution copies", async () => {
  const set = await loadMnist({ digits: [0, 7], perDigit: 10 });
  const low = downsampleUpsample(set.images, 28, 7, "bilinear");
  const blurred = gaussianBlur(set.images, 28, 1.5);
  for (const measure of ["laplacian", "gradient"] as const) {
    const sharp = qualityScores(set.images, 28, measure);
    const lr = qualityScores(low, 28, measure);
    const bl = qualityScores(blurred, 28, measure);
    for (let k = 0; k < 20; k++) assert.ok(sharp[k] > lr[k] && sharp[k] > bl[k], `${measure} image ${k}`);
  }
});

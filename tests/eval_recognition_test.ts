import assert from "node:assert/strict";
import { accuracy } from "../src/eval/classification.ts";
import {
  classMeans,
  EvalError,
  l2Normalize,
  rank1Accuracy,
  verificationTar,
} from "../src/eval/recognition.ts";

/** Unit vectors [cos t, sin t] for angles in degrees. */
function angles(...degrees: number[]): Float32Array {
  return Float32Array.from(
    degrees.flatMap((d) => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)]),
  );
}

const near = (a: number, b: number): boolean => Math.abs(a - b) < 1e-6;

Deno.test("l2Normalize() scales rows to unit length and leaves zero rows at zero", () => {
  assert.deepEqual(
    l2Normalize(Float32Array.of(3, 4, 0, 0, 0, -2), 2),
    Float32Array.of(0.6, 0.8, 0, 0, 0, -1),
  );
  assert.throws(
    () => l2Normalize(new Float32Array(5), 2),
    /embeddings hold 5 values, not a multiple of dim 2/,
  );
});

Deno.test("classMeans() and rank1Accuracy() on a hand-made 2-D example", () => {
  // class 0: (1,0) and (3,0) normalise to (1,0); class 1: (0,1), (0,5) -> (0,1);
  // class 2: (-1,0), (0,-1) -> mean (-1/2,-1/2) -> (-1/sqrt2, -1/sqrt2)
  const gallery = classMeans(
    Float32Array.of(0, 1, 1, 0, -1, 0, 3, 0, 0, 5, 0, -1),
    Int32Array.of(1, 0, 2, 0, 1, 2),
    2,
  );
  assert.deepEqual(gallery.classes, Int32Array.of(0, 1, 2));
  const s = Math.fround(Math.SQRT1_2);
  assert.deepEqual(gallery.means, Float32Array.of(1, 0, 0, 1, -s, -s));
  // probe (1, 0.2) label 0: cosines 0.98, 0.20, -0.83 -> class 0, right
  // probe (0.2, 1) label 1 -> class 1, right
  // probe (-1, -0.9) label 2: cosine with class 2 is 1.9 / (sqrt2 * 1.345) = 0.999 -> right
  // probe (0.9, 1) label 0: cosines 0.9 / 1.345 = 0.669 (class 0) < 1 / 1.345 = 0.743 (class 1) -> wrong
  const probes = Float32Array.of(1, 0.2, 0.2, 1, -1, -0.9, 0.9, 1);
  assert.equal(rank1Accuracy(probes, Int32Array.of(0, 1, 2, 0), gallery), 3 / 4);
  assert.throws(
    () => rank1Accuracy(probes, Int32Array.of(0, 1, 2, 7), gallery),
    (e: Error) =>
      e instanceof EvalError && e.message === "probe 3 has label 7, which the gallery does not hold",
  );
});

Deno.test("verificationTar() within one set, by hand", () => {
  // angles 0 (A), 60 (A), 90 (B), 100 (B), 180 (C); 10 pairs
  // genuine: (0,60) cos 60 = 0.5; (90,100) cos 10 = 0.985
  // impostors: (60,90) 0.866, (60,100) 0.766, (100,180) 0.174, (0,90) 0, (90,180) 0, (0,100) -0.174,
  //            (60,180) -0.5, (0,180) -1
  const set = { embeddings: angles(0, 60, 90, 100, 180), labels: Int32Array.of(0, 0, 1, 1, 2) };
  const result = verificationTar(set, 2, { fars: [0.125, 0.25] });
  assert.equal(result.genuine, 2);
  assert.equal(result.impostor, 8);
  assert.equal(result.sampled, false);
  // FAR 1/8: k = 1, threshold = 2nd largest impostor = cos 40 = 0.766; only cos 10 passes -> TAR 1/2
  // FAR 2/8: k = 2, threshold = cos 80 = 0.174; both genuine pass -> TAR 1
  const [p1, p2] = result.points;
  assert.ok(near(p1.threshold, Math.cos((40 * Math.PI) / 180)), `${p1.threshold}`);
  assert.equal(p1.tar, 0.5);
  assert.ok(near(p2.threshold, Math.cos((80 * Math.PI) / 180)), `${p2.threshold}`);
  assert.equal(p2.tar, 1);
  // FAR 0.1 of 8 impostors would be 0.8 pairs: not measurable
  assert.throws(
    () => verificationTar(set, 2, { fars: [0.1] }),
    (e: Error) => e.message === "FAR 0.1 needs at least 10 impostor pairs, found 8",
  );
});

Deno.test("verificationTar() across two sets, by hand", () => {
  // probes: 0 (label 0), 200 (label 1); gallery: 10 (0), 90 (1), 180 (2); 6 pairs
  // genuine: (0,10) cos 10 = 0.985; (200,90) cos 110 = -0.342
  // impostors: (200,180) cos 20 = 0.940, (0,90) 0, (200,10) cos 190 = -0.985, (0,180) -1
  const probes = { embeddings: angles(0, 200), labels: Int32Array.of(0, 1) };
  const against = { embeddings: angles(10, 90, 180), labels: Int32Array.of(0, 1, 2) };
  const result = verificationTar(probes, 2, { fars: [0.25, 0.5], against });
  assert.deepEqual([result.genuine, result.impostor], [2, 4]);
  // FAR 1/4: threshold 0 (2nd largest impostor): 0.985 passes, -0.342 does not -> 1/2
  // FAR 2/4: threshold -0.985: both pass -> 1
  assert.ok(near(result.points[0].threshold, 0));
  assert.deepEqual(result.points.map((p) => p.tar), [0.5, 1]);
});

Deno.test("verificationTar() samples pairs with a seed when there are too many", () => {
  // 60 classes, 3 identical embeddings each: genuine cosine 1, impostor at most cos 6 degrees < 1 -> TAR 1
  const degrees = Array.from({ length: 180 }, (_, i) => 6 * Math.floor(i / 3));
  const set = { embeddings: angles(...degrees), labels: Int32Array.from(degrees, (d) => d / 6) };
  const options = { maxPairs: 5000, seed: 9 };
  const result = verificationTar(set, 2, options); // 180 * 179 / 2 = 16110 pairs > 5000
  assert.equal(result.sampled, true);
  assert.equal(result.genuine + result.impostor, 5000);
  assert.deepEqual(result.points.map((p) => [p.far, p.tar]), [[1e-2, 1], [1e-3, 1]]);
  assert.deepEqual(verificationTar(set, 2, options), result);
  const all = verificationTar(set, 2);
  // genuine pairs: 60 classes * 3 pairs each = 180
  assert.deepEqual([all.sampled, all.genuine, all.impostor], [false, 180, 16110 - 180]);
});

Deno.test("accuracy() counts arg-max hits, first index on ties", () => {
  const logits = Float32Array.of(
    0.1,
    0.7,
    0.2, // -> 1, label 1: hit
    2,
    2,
    1, //       tie -> 0, label 1: miss
    -1,
    -3,
    -0.5, //  -> 2, label 2: hit
  );
  assert.equal(accuracy(logits, Int32Array.of(1, 1, 2)), 2 / 3);
  assert.throws(
    () => accuracy(logits, Int32Array.of(0, 1)),
    (e: Error) => e.message === "9 logits do not split into 2 rows (one per label)",
  );
});

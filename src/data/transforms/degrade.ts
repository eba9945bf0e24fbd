/** Image degradations that make low-quality variants: downsample-then-upsample, blur, noise, and mixes. */

import type { ImageSet } from "../domain.ts";
import { imageCount } from "../domain.ts";
import { permutation, Rng } from "../../random.ts";
import { areaResize, upsample, type UpsampleMode } from "./resize.ts";

/** One degradation step (plain JSON); steps apply in order. */
export type Degradation =
  | { kind: "downsample"; size: number; upsample: UpsampleMode }
  | { kind: "blur"; sigma: number }
  | { kind: "noise"; std: number };

function count(images: Float32Array, side: number): number {
  if (!Number.isInteger(side) || side <= 0) {
    throw new RangeError(`side must be a positive integer, found ${side}`);
  }
  if (images.length % (side * side) !== 0) {
    throw new RangeError(`images has ${images.length} values, not a multiple of ${side} x ${side}`);
  }
  return images.length / (side * side);
}

/** Low resolution at full size: area-downsample each image to size x size, then upsample back to side. */
export function downsampleUpsample(
  images: Float32Array,
  side: number,
  size: number,
  mode: UpsampleMode,
): Float32Array {
  const n = count(images, side);
  if (!Number.isInteger(size) || size <= 0 || size > side) {
    throw new RangeError(`downsample size must be an integer in [1, ${side}], found ${size}`);
  }
  const pixels = side * side;
  const out = new Float32Array(images.length);
  for (let k = 0; k < n; k++) {
    const small = areaResize(images.subarray(k * pixels, (k + 1) * pixels), side, side, size, size);
    out.set(upsample(small, size, side, mode), k * pixels);
  }
  return out;
}

/** The normalised 1-D gaussian kernel of radius ceil(3 sigma). */
function gaussianKernel(sigma: number): Float64Array {
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float64Array(2 * radius + 1);
  let total = 0;
  for (let i = -radius; i <= radius; i++) {
    kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
    total += kernel[i + radius];
  }
  return kernel.map((v) => v / total);
}

/** Separable gaussian blur of standard deviation `sigma` pixels; borders replicate the edge pixel. */
export function gaussianBlur(images: Float32Array, side: number, sigma: number): Float32Array {
  const n = count(images, side);
  if (!Number.isFinite(sigma) || sigma <= 0) {
    throw new RangeError(`blur sigma must be positive, found ${sigma}`);
  }
  const kernel = gaussianKernel(sigma);
  const radius = (kernel.length - 1) / 2;
  const pixels = side * side;
  const clamp = (v: number): number => (v < 0 ? 0 : v >= side ? side - 1 : v);
  const out = new Float32Array(images.length);
  const tmp = new Float64Array(pixels);
  for (let k = 0; k < n; k++) {
    const base = k * pixels;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        let acc = 0;
        for (let j = -radius; j <= radius; j++) {
          acc += kernel[j + radius] * images[base + y * side + clamp(x + j)];
        }
        tmp[y * side + x] = acc;
      }
    }
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        let acc = 0;
        for (let j = -radius; j <= radius; j++) acc += kernel[j + radius] * tmp[clamp(y + j) * side + x];
        out[base + y * side + x] = acc;
      }
    }
  }
  return out;
}

/** Adds seeded gaussian noise of standard deviation `std` and clamps to [0, 1]. */
export function gaussianNoise(images: Float32Array, std: number, seed: number): Float32Array {
  if (!Number.isFinite(std) || std < 0) throw new RangeError(`noise std must be non-negative, found ${std}`);
  const rng = new Rng(seed, 0x6e6f);
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) {
    const v = images[i] + std * rng.normal();
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

/** Applies `steps` in order; noise uses `seed`. */
export function degrade(
  images: Float32Array,
  side: number,
  steps: readonly Degradation[],
  seed = 0,
): Float32Array {
  let out: Float32Array = images.slice();
  for (const step of steps) {
    switch (step.kind) {
      case "downsample":
        out = downsampleUpsample(out, side, step.size, step.upsample);
        break;
      case "blur":
        out = gaussianBlur(out, side, step.sigma);
        break;
      case "noise":
        out = gaussianNoise(out, step.std, seed);
        break;
      default:
        throw new RangeError(
          `degradation kind must be "downsample", "blur" or "noise", found ${
            JSON.stringify((step as { kind: unknown }).kind)
          }`,
        );
    }
  }
  return out;
}

/** How {@link mixQuality} picks and degrades images. */
export interface MixQualityOptions {
  /** Fraction of the images to degrade, in [0, 1]; round(fraction * n) images are degraded. */
  fraction: number;
  steps: Degradation[];
  seed: number;
}

/** Degrades a fixed seeded subset of a set's images; `degraded[k]` is 1 for the images that were changed. */
export function mixQuality(
  set: ImageSet,
  options: MixQualityOptions,
): { set: ImageSet; degraded: Uint8Array } {
  const n = imageCount(set);
  const { fraction, steps, seed } = options;
  if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new RangeError(`mixQuality fraction must be in [0, 1], found ${fraction}`);
  }
  const pixels = set.side * set.side;
  const chosen = Array.from(permutation(n, seed, 0x7175).subarray(0, Math.round(fraction * n))).sort((a, b) =>
    a - b
  );
  const picked = new Float32Array(chosen.length * pixels);
  chosen.forEach((k, j) => picked.set(set.images.subarray(k * pixels, (k + 1) * pixels), j * pixels));
  const changed = degrade(picked, set.side, steps, seed);
  const images = set.images.slice();
  const degraded = new Uint8Array(n);
  chosen.forEach((k, j) => {
    images.set(changed.subarray(j * pixels, (j + 1) * pixels), k * pixels);
    degraded[k] = 1;
  });
  return { set: { images, labels: set.labels.slice(), side: set.side }, degraded };
}

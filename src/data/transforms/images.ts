/** Image-set transforms: take a prefix, keep a fraction, split off a seeded validation subset. */

import { imageCount, type ImageDomain, type ImageSet } from "../domain.ts";
import { DataError } from "../errors.ts";
import { permutation } from "../../random.ts";

/** The images at `indices`, in that order. */
export function selectImages(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const n = imageCount(set);
  const pixels = set.side * set.side;
  const images = new Float32Array(indices.length * pixels);
  const labels = new Int32Array(indices.length);
  for (let j = 0; j < indices.length; j++) {
    const k = indices[j];
    if (!Number.isInteger(k) || k < 0 || k >= n) {
      throw new RangeError(`image index ${k} is outside [0, ${n})`);
    }
    images.set(set.images.subarray(k * pixels, (k + 1) * pixels), j * pixels);
    labels[j] = set.labels[k];
  }
  return { images, labels, side: set.side };
}

/** The first `count` images; asking for more than there are is an error. */
export function takeImages(set: ImageSet, count: number, name = "images"): ImageSet {
  const n = imageCount(set, name);
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`take count must be a non-negative integer, found ${count}`);
  }
  if (count > n) throw new DataError(`take ${count} images asks for more than "${name}" has (${n} images)`);
  return selectImages(set, Array.from({ length: count }, (_, i) => i));
}

/** The first floor(fraction * n) images; fraction in (0, 1]. */
export function fractionImages(set: ImageSet, fraction: number): ImageSet {
  if (!Number.isFinite(fraction) || fraction <= 0 || fraction > 1) {
    throw new RangeError(`fraction must be in (0, 1], found ${fraction}`);
  }
  return takeImages(set, Math.floor(fraction * imageCount(set)));
}

/**
 * A seeded split: round(validationFraction * n) images chosen by a permutation of `seed` go to
 * validation; both sides keep the original order.
 */
export function splitImages(
  set: ImageSet,
  validationFraction: number,
  seed: number,
): { train: ImageSet; validation: ImageSet } {
  if (!Number.isFinite(validationFraction) || validationFraction < 0 || validationFraction >= 1) {
    throw new RangeError(`validation fraction must be in [0, 1), found ${validationFraction}`);
  }
  const n = imageCount(set);
  const held = new Uint8Array(n);
  permutation(n, seed, 0x7661).subarray(0, Math.round(validationFraction * n)).forEach((k) => held[k] = 1);
  const train: number[] = [];
  const validation: number[] = [];
  for (let k = 0; k < n; k++) (held[k] ? validation : train).push(k);
  return { train: selectImages(set, train), validation: selectImages(set, validation) };
}

/** An image domain with a seeded validation subset; an empty training set is an error. */
export function imageDomain(name: string, set: ImageSet, validationFraction = 0, seed = 0): ImageDomain {
  imageCount(set, `domain "${name}"`);
  const { train, validation } = splitImages(set, validationFraction, seed);
  if (train.labels.length === 0) throw new DataError(`domain "${name}" is empty: it has 0 training images`);
  return {
    name,
    kind: "images",
    images: train.images,
    labels: train.labels,
    side: set.side,
    validation: { images: validation.images, labels: validation.labels },
  };
}

/**
 * Raw no-reference sharpness measures of a grayscale image (higher = sharper). Blur and
 * downsample-then-upsample both lower them; the gate's scorer normalises them over a training set.
 */

/** Variance of the 4-neighbour Laplacian over interior pixels: I(y-1,x) + I(y+1,x) + I(y,x-1) + I(y,x+1) - 4 I(y,x). */
export function laplacianVariance(image: Float32Array, side: number): number {
  checkImage(image, side);
  let sum = 0;
  let sumSq = 0;
  for (let y = 1; y < side - 1; y++) {
    for (let x = 1; x < side - 1; x++) {
      const i = y * side + x;
      const l = image[i - side] + image[i + side] + image[i - 1] + image[i + 1] - 4 * image[i];
      sum += l;
      sumSq += l * l;
    }
  }
  const n = (side - 2) * (side - 2);
  const mean = sum / n;
  return Math.max(0, sumSq / n - mean * mean);
}

/** Mean gradient energy over interior pixels, gx^2 + gy^2 with central differences gx = (I(x+1) - I(x-1)) / 2. */
export function gradientEnergy(image: Float32Array, side: number): number {
  checkImage(image, side);
  let sum = 0;
  for (let y = 1; y < side - 1; y++) {
    for (let x = 1; x < side - 1; x++) {
      const i = y * side + x;
      const gx = (image[i + 1] - image[i - 1]) / 2;
      const gy = (image[i + side] - image[i - side]) / 2;
      sum += gx * gx + gy * gy;
    }
  }
  return sum / ((side - 2) * (side - 2));
}

/** A sharpness measure by name. */
export type QualityMeasure = "laplacian" | "gradient";

/** One raw score per image of `images` ([n, side * side]). */
export function qualityScores(images: Float32Array, side: number, measure: QualityMeasure): Float32Array {
  const pixels = side * side;
  if (images.length % pixels !== 0) {
    throw new RangeError(`images has ${images.length} values, not a multiple of ${side} x ${side}`);
  }
  if (measure !== "laplacian" && measure !== "gradient") {
    throw new RangeError(
      `quality measure must be "laplacian" or "gradient", found ${JSON.stringify(measure)}`,
    );
  }
  const f = measure === "laplacian" ? laplacianVariance : gradientEnergy;
  const n = images.length / pixels;
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) out[k] = f(images.subarray(k * pixels, (k + 1) * pixels), side);
  return out;
}

function checkImage(image: Float32Array, side: number): void {
  if (!Number.isInteger(side) || side < 3) {
    throw new RangeError(`side must be an integer >= 3, found ${side}`);
  }
  if (image.length !== side * side) {
    throw new RangeError(`image has ${image.length} values, expected ${side} x ${side} = ${side * side}`);
  }
}

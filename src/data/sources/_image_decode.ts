// Decodes PNG and JPEG files to grayscale [0, 1] pixels.

import jpeg from "jpeg-js";
import { DataError } from "../errors.ts";
import { readPng, type Rgba } from "./_png_read.ts";

/** A decoded grayscale image, row-major, values in [0, 1]. */
export interface GrayImage {
  width: number;
  height: number;
  pixels: Float32Array;
}

/** The image types {@link decodeImage} reads, by lower-case extension. */
export const IMAGE_EXTENSIONS: readonly string[] = [".png", ".jpg", ".jpeg"];

/** ITU-R BT.601 luma of RGBA pixels, composited over black by alpha (transparent = 0, like MNIST's ink on black). */
export function toGray(image: Rgba): GrayImage {
  const n = image.width * image.height;
  const pixels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = image.data[4 * i];
    const g = image.data[4 * i + 1];
    const b = image.data[4 * i + 2];
    const a = image.data[4 * i + 3] / 255;
    pixels[i] = ((0.299 * r + 0.587 * g + 0.114 * b) / 255) * a;
  }
  return { width: image.width, height: image.height, pixels };
}

/** Decodes a PNG or JPEG (by the file's extension); an unreadable file is a DataError naming it. */
export function decodeImage(bytes: Uint8Array, file: string): GrayImage {
  const ext = file.slice(file.lastIndexOf(".")).toLowerCase();
  if (ext === ".png") {
    let image: Rgba;
    try {
      image = readPng(bytes);
    } catch (e) {
      throw new DataError(`is not a readable PNG image (${(e as Error).message})`, { file });
    }
    return toGray(image);
  }
  if (ext === ".jpg" || ext === ".jpeg") {
    let image: Rgba;
    try {
      image = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    } catch (e) {
      throw new DataError(`is not a readable JPEG image (${(e as Error).message})`, { file });
    }
    return toGray(image);
  }
  throw new DataError(
    `unsupported image type "${ext}" (expected ${IMAGE_EXTENSIONS.join(", ")})`,
    { file },
  );
}

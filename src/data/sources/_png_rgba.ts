/**
 * PNG samples to 8-bit RGBA, with the rules of pngjs (the decoder this replaced, kept as the tests'
 * reference): a tRNS colour key is compared at the file's bit depth and makes the pixel (0, 0, 0, 0);
 * 16-bit and 1/2/4-bit samples, alpha included, then become floor(v * 255 / max + 0.5), computed as pngjs
 * does; palette indices take the PLTE colour and its tRNS alpha (255 past the end of tRNS).
 */

/** Samples of a decoded PNG, unpacked: one element per channel of each pixel, at the file's depth. */
export interface PngSamples {
  width: number;
  height: number;
  /** Bits per sample: 1, 2, 4, 8 or 16. */
  depth: number;
  /** IHDR colour type: 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colourType: number;
  samples: ArrayLike<number>;
  /** PLTE entries as [r, g, b] or, with tRNS, [r, g, b, a]. */
  palette?: number[][];
  /** The tRNS colour key of a gray (one value) or RGB (three values) image. */
  key?: number[];
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Unpacks `count` samples of `depth` < 8 bits from `bytes` (most significant bits first). */
export function unpackSamples(bytes: Uint8Array, count: number, depth: number): Uint8Array {
  const out = new Uint8Array(count);
  const mask = (1 << depth) - 1;
  for (let i = 0; i < count; i++) {
    const bit = i * depth;
    out[i] = (bytes[bit >> 3] >> (8 - depth - (bit & 7))) & mask;
  }
  return out;
}

/** RGBA bytes, row-major; a palette index past the PLTE is an Error. */
export function pngRgba(png: PngSamples): Uint8Array {
  const { width, height, depth, colourType, samples } = png;
  const n = width * height;
  const out = new Uint8Array(4 * n);
  if (colourType === 3) {
    const palette = png.palette;
    if (!palette) throw new Error("palette image without a PLTE chunk");
    for (let i = 0; i < n; i++) {
      const color = palette[samples[i]];
      if (!color) throw new Error(`palette index ${samples[i]} is past the ${palette.length} PLTE entries`);
      out[4 * i] = color[0];
      out[4 * i + 1] = color[1];
      out[4 * i + 2] = color[2];
      out[4 * i + 3] = color[3] ?? 255;
    }
    return out;
  }
  const channels = CHANNELS[colourType];
  const max = Math.pow(2, depth) - 1;
  const key = png.key;
  const pixel = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    if (channels <= 2) {
      pixel[0] = pixel[1] = pixel[2] = samples[s];
      pixel[3] = channels === 2 ? samples[s + 1] : max;
    } else {
      pixel[0] = samples[s];
      pixel[1] = samples[s + 1];
      pixel[2] = samples[s + 2];
      pixel[3] = channels === 4 ? samples[s + 3] : max;
    }
    const keyed = key && pixel[0] === key[0] &&
      (channels === 1 || (pixel[1] === key[1] && pixel[2] === key[2]));
    if (keyed) pixel.fill(0);
    for (let c = 0; c < 4; c++) {
      out[4 * i + c] = depth === 8 ? pixel[c] : Math.floor((pixel[c] * 255) / max + 0.5);
    }
  }
  return out;
}

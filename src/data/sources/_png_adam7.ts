/**
 * Layout of a PNG's inflated image data, and a reader for Adam7-interlaced 1-, 2- and 4-bit images:
 * fast-png 8.0.0 steps through their passes as if each pixel took a whole byte, so their samples are
 * unfiltered and placed here instead.
 */

import { unpackSamples } from "./_png_rgba.ts";

/** One Adam7 pass: its first pixel, its steps, and its size in pixels. */
interface Pass {
  x: number;
  y: number;
  dx: number;
  dy: number;
  width: number;
  height: number;
}

// Adam7's seven passes: first column and row, column and row steps
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** The non-empty sub-images the data is stored as: the whole image, or Adam7's passes. */
function passes(width: number, height: number, interlaced: boolean): Pass[] {
  if (!interlaced) return [{ x: 0, y: 0, dx: 1, dy: 1, width, height }];
  return ADAM7.map(([x, y, dx, dy]) => ({
    x,
    y,
    dx,
    dy,
    width: Math.max(0, Math.ceil((width - x) / dx)),
    height: Math.max(0, Math.ceil((height - y) / dy)),
  })).filter((p) => p.width > 0 && p.height > 0);
}

/** Bytes of the inflated data the image needs: per row a filter byte and its packed samples. */
export function dataLength(
  width: number,
  height: number,
  bitsPerPixel: number,
  interlaced: boolean,
): number {
  return passes(width, height, interlaced)
    .reduce((n, p) => n + p.height * (1 + Math.ceil((p.width * bitsPerPixel) / 8)), 0);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/**
 * Samples of a one-channel image of `depth` < 8 bits stored with Adam7, from its inflated data; one byte per
 * pixel, row-major. Filters work on whole bytes here, so the byte to the left is the one before.
 */
export function readAdam7SubByte(data: Uint8Array, width: number, height: number, depth: number): Uint8Array {
  const out = new Uint8Array(width * height);
  let pos = 0;
  for (const p of passes(width, height, true)) {
    const rowBytes = Math.ceil((p.width * depth) / 8);
    let prev = new Uint8Array(rowBytes);
    for (let r = 0; r < p.height; r++) {
      const filter = data[pos];
      const row = new Uint8Array(rowBytes);
      for (let i = 0; i < rowBytes; i++) {
        const x = data[pos + 1 + i];
        const a = i > 0 ? row[i - 1] : 0;
        const b = prev[i];
        const c = i > 0 ? prev[i - 1] : 0;
        if (filter === 0) row[i] = x;
        else if (filter === 1) row[i] = x + a;
        else if (filter === 2) row[i] = x + b;
        else if (filter === 3) row[i] = x + ((a + b) >> 1);
        else if (filter === 4) row[i] = x + paeth(a, b, c);
        else throw new Error(`Unsupported filter: ${filter}`);
      }
      const samples = unpackSamples(row, p.width, depth);
      const y = p.y + r * p.dy;
      for (let j = 0; j < p.width; j++) out[y * width + p.x + j * p.dx] = samples[j];
      prev = row;
      pos += 1 + rowBytes;
    }
  }
  return out;
}

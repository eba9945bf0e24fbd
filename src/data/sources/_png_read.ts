/**
 * Reads a PNG file to 8-bit RGBA with fast-png (pure JS, so the same code runs under Deno and in the page).
 * fast-png parses the chunks, checks the zlib stream's structure and unfilters the rows. Made here: the
 * checks it leaves out or makes slowly (every chunk's CRC, IHDR first with an allowed bit depth, no unknown
 * critical chunk, enough image data, and the zlib stream's Adler-32, which fflate skips, so a damaged
 * deflate body that still parses would give wrong pixels), the tRNS colour key of gray and RGB images, and
 * the passes of Adam7 images below 8 bits (see _png_adam7.ts); then _png_rgba.ts makes RGBA as pngjs did.
 */

import { decode } from "fast-png";
import { unzlibSync } from "fflate";
import { dataLength, readAdam7SubByte } from "./_png_adam7.ts";
import { pngRgba, unpackSamples } from "./_png_rgba.ts";

/** A decoded image: RGBA bytes, row-major. */
export interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

interface Header {
  width: number;
  height: number;
  depth: number;
  colourType: number;
  interlaced: boolean;
}

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const CRITICAL = new Set(["IHDR", "PLTE", "IDAT", "IEND"]);

const CRC_TABLE = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

function crc32(bytes: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function adler32(bytes: Uint8Array): number {
  let a = 1, b = 0;
  for (let i = 0; i < bytes.length;) {
    // 4096 bytes keep b below 2^53 between the reductions
    for (const end = Math.min(i + 4096, bytes.length); i < end; i++) {
      a += bytes[i];
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const u32 = (bytes: Uint8Array, at: number): number =>
  new DataView(bytes.buffer, bytes.byteOffset).getUint32(at);
const typeAt = (bytes: Uint8Array, at: number): string => String.fromCharCode(...bytes.subarray(at, at + 4));

/** IHDR's fields; the chunks' CRCs are already checked. */
function readHeader(bytes: Uint8Array): Header {
  if (typeAt(bytes, 12) !== "IHDR" || u32(bytes, 8) !== 13) throw new Error("IHDR is not the first chunk");
  const [depth, colourType, interlace] = [bytes[24], bytes[25], bytes[28]];
  const header = {
    width: u32(bytes, 16),
    height: u32(bytes, 20),
    depth,
    colourType,
    interlaced: interlace === 1,
  };
  if (header.width === 0 || header.height === 0) throw new Error("zero width or height");
  if (!DEPTHS[colourType]?.includes(depth)) {
    throw new Error(`bit depth ${depth} with colour type ${colourType} is not a PNG format`);
  }
  return header;
}

/** The chunks read here as well as by fast-png: the IDAT bodies, and where tRNS starts and ends. */
interface Chunks {
  idat: Uint8Array[];
  trns?: [number, number];
}

/** Walks the chunks to IEND checking their CRCs, and refusing critical chunks this reader does not know. */
function walk(bytes: Uint8Array): Chunks {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error("no PNG signature");
  const chunks: Chunks = { idat: [] };
  for (let at = 8;;) {
    if (at + 12 > bytes.length) throw new Error("the file ends before its IEND chunk");
    const length = u32(bytes, at);
    const type = typeAt(bytes, at + 4);
    const end = at + 12 + length;
    if (end > bytes.length) throw new Error(`chunk ${type} runs past the end of the file`);
    if (crc32(bytes.subarray(at + 4, end - 4)) !== u32(bytes, end - 4)) {
      throw new Error(`CRC mismatch for chunk ${type}`);
    }
    if (type === "IEND") return chunks;
    if (type === "IDAT") chunks.idat.push(bytes.subarray(at + 8, end - 4));
    else if (type === "tRNS") chunks.trns = [at, end];
    else if (!CRITICAL.has(type) && !(bytes[at + 4] & 0x20)) {
      throw new Error(`unknown critical chunk ${type}`);
    }
    at = end;
  }
}

/** The colour key of a gray (1 value) or RGB (3 values) image. */
function colourKey(bytes: Uint8Array, [start, end]: [number, number], channels: number): number[] {
  if (end - start - 12 < 2 * channels) {
    throw new Error(`tRNS holds ${end - start - 12} bytes, expected ${2 * channels}`);
  }
  return Array.from(
    { length: channels },
    (_, c) => (bytes[start + 8 + 2 * c] << 8) | bytes[start + 9 + 2 * c],
  );
}

/**
 * The file as fast-png gets it. A gray or RGB image's tRNS is taken out (fast-png 8.0.0 counts an RGB key's
 * three values as alpha per pixel and refuses them in images of fewer than three pixels). For Adam7 below 8
 * bits the IHDR says 1 x 1 and not interlaced, so fast-png checks the file without reading the passes.
 */
function forFastPng(bytes: Uint8Array, chunks: Chunks, keyed: boolean, subByteAdam7: boolean): Uint8Array {
  if (!keyed && !subByteAdam7) return bytes;
  const copy = keyed
    ? concat([bytes.subarray(0, chunks.trns![0]), bytes.subarray(chunks.trns![1])])
    : bytes.slice();
  if (subByteAdam7) {
    const view = new DataView(copy.buffer);
    view.setUint32(16, 1);
    view.setUint32(20, 1);
    copy[28] = 0;
  }
  return copy;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** Decodes a PNG to RGBA; anything unreadable is an Error saying what. */
export function readPng(bytes: Uint8Array): Rgba {
  const chunks = walk(bytes);
  const header = readHeader(bytes);
  const { width, height, depth, colourType, interlaced } = header;
  const subByteAdam7 = interlaced && depth < 8;
  const keyed = chunks.trns !== undefined && (colourType === 0 || colourType === 2);
  const key = keyed ? colourKey(bytes, chunks.trns!, CHANNELS[colourType]) : undefined;
  const png = decode(forFastPng(bytes, chunks, keyed, subByteAdam7));
  const stream = concat(chunks.idat);
  const data = unzlibSync(stream);
  const needed = dataLength(width, height, CHANNELS[colourType] * depth, interlaced);
  if (data.length < needed) throw new Error(`image data ends early: ${data.length} of ${needed} bytes`);
  if (adler32(data) !== u32(stream, stream.length - 4)) throw new Error("zlib checksum (Adler-32) mismatch");
  let samples: ArrayLike<number>;
  if (subByteAdam7) samples = readAdam7SubByte(data, width, height, depth);
  else if (depth >= 8) samples = png.data;
  else {
    const rowBytes = Math.ceil((width * depth) / 8);
    samples = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      const row = (png.data as Uint8Array).subarray(y * rowBytes, (y + 1) * rowBytes);
      (samples as Uint8Array).set(unpackSamples(row, width, depth), y * width);
    }
  }
  const rgba = pngRgba({ ...header, samples, palette: png.palette, key });
  return { width, height, data: rgba };
}

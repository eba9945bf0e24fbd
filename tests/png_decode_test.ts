// PNG reading (fast-png plus the checks and conversion around it) against pngjs, the decoder it replaced, on
// PNGs written here byte by byte: every colour type and allowed bit depth, tRNS keys and palette alpha,
// Adam7, odd widths, all five row filters; broken files, which must be errors naming the file; and the
// decoder bundled for the browser, where no Node module may be needed.
import assert from "node:assert/strict";
import pngjs from "pngjs";
import { Buffer } from "node:buffer";
import { zlibSync } from "fflate";
import * as esbuild from "esbuild";
import { decodeImage, toGray } from "../src/data/sources/_image_decode.ts";
import { readPng } from "../src/data/sources/_png_read.ts";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set([...type].map((c) => c.charCodeAt(0)), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

interface Spec {
  width: number;
  height: number;
  depth: number;
  colourType: number;
  interlaced?: boolean;
  /** Unpacked samples, channels per pixel, row-major. */
  samples: number[];
  palette?: number[][];
  trns?: number[];
  /** Changes the inflated image data before it is compressed. */
  editData?: (data: Uint8Array) => Uint8Array;
  /** Extra chunks written before the first IDAT. */
  extra?: Uint8Array[];
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
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

/** One row's samples packed at `depth` bits (sub-byte ones most significant first, 16-bit big-endian). */
function pack(samples: number[], depth: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((samples.length * depth) / 8));
  samples.forEach((v, i) => {
    if (depth === 16) out.set([v >> 8, v & 255], 2 * i);
    else if (depth === 8) out[i] = v;
    else out[(i * depth) >> 3] |= v << (8 - depth - ((i * depth) & 7));
  });
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** The rows of one (sub-)image, each filtered with the next of the five filter types. */
function filterRows(rows: Uint8Array[], bpp: number, first: number): Uint8Array[] {
  return rows.map((raw, r) => {
    const type = (first + r) % 5;
    const prev = r > 0 ? rows[r - 1] : new Uint8Array(raw.length);
    const out = new Uint8Array(1 + raw.length);
    out[0] = type;
    for (let i = 0; i < raw.length; i++) {
      const a = i >= bpp ? raw[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      const predicted = [0, a, b, (a + b) >> 1, paeth(a, b, c)][type];
      out[1 + i] = raw[i] - predicted;
    }
    return out;
  });
}

function writePng(spec: Spec): Uint8Array {
  const { width, height, depth, colourType } = spec;
  const ch = CHANNELS[colourType];
  const bpp = Math.max(1, Math.ceil((ch * depth) / 8));
  const pixel = (x: number, y: number): number[] =>
    spec.samples.slice((y * width + x) * ch, (y * width + x + 1) * ch);
  const images = spec.interlaced
    ? ADAM7.map(([x0, y0, dx, dy]) => {
      const xs = Array.from({ length: Math.max(0, Math.ceil((width - x0) / dx)) }, (_, j) => x0 + j * dx);
      const ys = Array.from({ length: Math.max(0, Math.ceil((height - y0) / dy)) }, (_, j) => y0 + j * dy);
      return xs.length === 0 ? [] : ys.map((y) => xs.flatMap((x) => pixel(x, y)));
    })
    : [Array.from({ length: height }, (_, y) => spec.samples.slice(y * width * ch, (y + 1) * width * ch))];
  let data = concat(images.flatMap((rows, k) => filterRows(rows.map((r) => pack(r, depth)), bpp, k)));
  if (spec.editData) data = spec.editData(data);
  const z = zlibSync(data, { level: 6 });
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width);
  new DataView(ihdr.buffer).setUint32(4, height);
  ihdr.set([depth, colourType, 0, 0, spec.interlaced ? 1 : 0], 8);
  const half = z.length >> 1;
  return concat([
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", ihdr),
    ...(spec.palette ? [chunk("PLTE", new Uint8Array(spec.palette.flat()))] : []),
    ...(spec.trns ? [chunk("tRNS", new Uint8Array(spec.trns))] : []),
    ...(spec.extra ?? []),
    chunk("IDAT", z.subarray(0, half)), // two IDAT chunks, so the reader has to join them
    chunk("IDAT", z.subarray(half)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/** A deterministic generator of integers in [0, n) (mulberry32). */
function integers(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

const DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};
const SIZES = [[5, 3], [7, 9], [1, 1], [13, 6], [3, 11]];

/** Every kind of image once per size and interlacing; keyed images have a near miss beside each keyed pixel. */
function allKinds(): { name: string; spec: Spec }[] {
  const kinds: { name: string; spec: Spec }[] = [];
  const next = integers(7);
  for (const [colourType, depths] of Object.entries(DEPTHS).map(([c, d]) => [Number(c), d] as const)) {
    for (const depth of depths) {
      for (const interlaced of [false, true]) {
        for (const [width, height] of SIZES) {
          const ch = CHANNELS[colourType];
          const max = 2 ** depth - 1;
          const n = width * height;
          const base = { width, height, depth, colourType, interlaced };
          const name = `type ${colourType}, ${depth}-bit, ${width}x${height}${interlaced ? ", Adam7" : ""}`;
          if (colourType === 3) {
            const entries = Math.min(max + 1, 6);
            const palette = Array.from({ length: entries }, () => [next(256), next(256), next(256)]);
            const samples = Array.from({ length: n }, () => next(entries));
            kinds.push({ name, spec: { ...base, samples, palette } });
            const trns = Array.from({ length: Math.max(1, entries - 2) }, () => next(256));
            kinds.push({ name: `${name}, tRNS`, spec: { ...base, samples, palette, trns } });
            continue;
          }
          const samples = Array.from({ length: n * ch }, () => next(max + 1));
          kinds.push({ name, spec: { ...base, samples } });
          if (colourType === 0 || colourType === 2) {
            const key = samples.slice(0, ch);
            const keyed = samples.slice();
            for (let i = 0; i < n; i += 3) {
              keyed.splice(i * ch, ch, ...key);
              if (i + 1 < n) keyed.splice((i + 1) * ch, ch, ...key.map((v, c) => c === ch - 1 ? v ^ 1 : v));
            }
            const trns = key.flatMap((v) => [v >> 8, v & 255]);
            kinds.push({ name: `${name}, tRNS key`, spec: { ...base, samples: keyed, trns } });
          }
        }
      }
    }
  }
  return kinds;
}

Deno.test("readPng() gives pngjs's RGBA bytes and decodeImage() its gray pixels for every kind of PNG", () => {
  const kinds = allKinds();
  // per size and interlacing: gray 5 depths x (plain, keyed), RGB 2 x 2, palette 4 x (plain, tRNS), GA 2, RGBA 2
  assert.equal(kinds.length, SIZES.length * 2 * (5 * 2 + 2 * 2 + 4 * 2 + 2 + 2));
  for (const { name, spec } of kinds) {
    const bytes = writePng(spec);
    const ref = pngjs.PNG.sync.read(Buffer.from(bytes));
    // the file says what it was meant to
    assert.deepEqual([ref.width, ref.height, ref.depth, ref.colorType, ref.interlace], [
      spec.width,
      spec.height,
      spec.depth,
      spec.colourType,
      spec.interlaced,
    ], name);
    const ours = readPng(bytes);
    assert.equal(ours.width, spec.width, name);
    assert.equal(ours.height, spec.height, name);
    assert.deepEqual(ours.data, new Uint8Array(ref.data), name);
    assert.deepEqual(decodeImage(bytes, "x.png").pixels, toGray(ref).pixels, name);
  }
});

Deno.test("readPng() rounds rescaled samples, keys at the file's depth, and looks up palette alpha", () => {
  const gray = (depth: number, samples: number[], trns?: number[]): number[] =>
    [
      ...readPng(writePng({ width: samples.length, height: 1, depth, colourType: 0, samples, trns })).data,
    ].filter((_, i) => i % 4 === 0 || i % 4 === 3);
  // [gray, alpha] per pixel
  assert.deepEqual(gray(2, [0, 1, 2, 3]), [0, 255, 85, 255, 170, 255, 255, 255]);
  assert.deepEqual(gray(4, [7, 8]), [119, 255, 136, 255]);
  // v * 255 / 65535 = v / 257, rounded: 255 -> 0.992 -> 1, 128 -> 0.498 -> 0, 65279 -> 254.004 -> 254
  assert.deepEqual(gray(16, [255, 128, 65279, 65535]), [1, 255, 0, 255, 254, 255, 255, 255]);
  // key 0x1234: 0x1235 maps to the same 8-bit value but is not the key
  assert.deepEqual(gray(16, [0x1234, 0x1235], [0x12, 0x34]), [0, 0, 18, 255]);
  const palette = readPng(writePng({
    width: 3,
    height: 1,
    depth: 2,
    colourType: 3,
    samples: [0, 1, 2],
    palette: [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
    trns: [10],
  })).data;
  assert.deepEqual([...palette], [1, 2, 3, 10, 4, 5, 6, 255, 7, 8, 9, 255]);
});

/** decodeImage()'s error for a PNG it cannot read. */
function rejects(bytes: Uint8Array, reason: RegExp | string, what = String(reason)): void {
  assert.throws(() => decodeImage(bytes, "dir/a.png"), (e: Error) => {
    assert.equal(e.name, "DataError", what);
    assert.ok(e.message.startsWith("dir/a.png: is not a readable PNG image ("), `${what}: ${e.message}`);
    if (typeof reason === "string") assert.ok(e.message.includes(reason), `${what}: ${e.message}`);
    else assert.match(e.message, reason, what);
    return true;
  }, what);
}

const SAMPLES = [
  {
    width: 7,
    height: 5,
    depth: 8,
    colourType: 2,
    samples: Array.from({ length: 105 }, (_, i) => (i * 37) % 256),
  },
  { width: 5, height: 7, depth: 16, colourType: 4, samples: Array.from({ length: 70 }, (_, i) => i * 911) },
  {
    width: 7,
    height: 9,
    depth: 2,
    colourType: 3,
    interlaced: true,
    samples: Array.from({ length: 63 }, (_, i) => i % 3),
    palette: [[9, 8, 7], [6, 5, 4], [3, 2, 1]],
    trns: [0, 128],
  },
];

/** Offsets of each chunk in a PNG: [start, type, body length]. */
function chunks(bytes: Uint8Array): [number, string, number][] {
  const out: [number, string, number][] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  for (let at = 8; at < bytes.length; at += 12 + view.getUint32(at)) {
    out.push([at, String.fromCharCode(...bytes.subarray(at + 4, at + 8)), view.getUint32(at)]);
  }
  return out;
}

Deno.test("decodeImage() rejects every truncation of a PNG, as pngjs does, also inside a larger buffer", () => {
  for (const spec of SAMPLES) {
    const bytes = writePng(spec);
    assert.equal(readPng(bytes).width, spec.width);
    for (let n = 0; n < bytes.length; n++) {
      const cut = bytes.slice(0, n);
      assert.throws(() => pngjs.PNG.sync.read(Buffer.from(cut)), `pngjs, ${n} of ${bytes.length} bytes`);
      rejects(cut, /./, `${n} of ${bytes.length} bytes`);
      // the rest of the file lies just past the view's end
      rejects(bytes.subarray(0, n), /./, `view of ${n} of ${bytes.length} bytes`);
    }
  }
});

Deno.test("decodeImage() rejects a PNG with any CRC byte changed", () => {
  for (const spec of SAMPLES) {
    const bytes = writePng(spec);
    for (const [at, type, length] of chunks(bytes)) {
      for (let k = 0; k < 4; k++) {
        const bad = bytes.slice();
        bad[at + 8 + length + k] ^= 0x10;
        assert.throws(() => pngjs.PNG.sync.read(Buffer.from(bad)), `pngjs, ${type} CRC byte ${k}`);
        rejects(bad, /CRC mismatch for chunk/, `${type} CRC byte ${k}`);
      }
    }
  }
});

/** The PNG with one byte of its zlib stream changed and the chunk's CRC made to match. */
function damageStream(bytes: Uint8Array, k: number, bit: number): Uint8Array {
  const bad = bytes.slice();
  const view = new DataView(bad.buffer);
  let left = k;
  for (const [at, type, length] of chunks(bad)) {
    if (type !== "IDAT") continue;
    if (left < length) {
      bad[at + 8 + left] ^= bit;
      view.setUint32(at + 8 + length, crc32(bad.subarray(at + 4, at + 8 + length)));
      return bad;
    }
    left -= length;
  }
  throw new Error(`stream byte ${k} is past the IDAT chunks`);
}

Deno.test("decodeImage() rejects a damaged zlib stream (chunk CRCs made to match) unless its pixels are intact", () => {
  let rejected = 0, intact = 0, pngjsRead = 0;
  for (const spec of SAMPLES) {
    const bytes = writePng(spec);
    const good = readPng(bytes).data;
    const streamLength = chunks(bytes).filter(([, t]) => t === "IDAT").reduce((n, [, , l]) => n + l, 0);
    for (let k = 0; k < streamLength; k++) {
      for (const bit of [0x01, 0x80]) {
        const bad = damageStream(bytes, k, bit);
        const what = `stream byte ${k} of ${streamLength}, bit ${bit}`;
        let ours: Uint8Array | undefined;
        try {
          ours = readPng(bad).data;
        } catch {
          rejects(bad, /./, what);
          rejected++;
        }
        // only the padding bits after the last block (in the byte before the Adler-32) carry nothing
        if (ours) {
          assert.equal(k, streamLength - 5, what);
          assert.deepEqual(ours, good, what);
          intact++;
        }
        try {
          pngjs.PNG.sync.read(Buffer.from(bad));
          pngjsRead++;
        } catch {
          // pngjs noticed too
        }
      }
    }
    // the last four bytes are the Adler-32 of the inflated data, which fflate does not check
    rejects(damageStream(bytes, streamLength - 1, 1), "zlib checksum (Adler-32) mismatch", "Adler-32");
  }
  assert.ok(rejected >= 400, `${rejected} rejected`);
  console.log(
    `damaged streams: ${rejected} rejected, ${intact} read intact; pngjs read ${pngjsRead} without error`,
  );
});

Deno.test("decodeImage() rejects short image data, bad palettes, unknown critical chunks and bad headers", () => {
  const rgb = SAMPLES[0];
  // 5 rows x (filter byte + 7 x 3 samples) = 110 bytes
  rejects(
    writePng({ ...rgb, editData: (d) => d.subarray(0, d.length - 1) }),
    "image data ends early: 109 of 110",
  );
  rejects(writePng({ ...SAMPLES[2], editData: (d) => d.subarray(0, d.length - 1) }), "image data ends early");
  // trailing data after the image is ignored, as libpng does (pngjs refuses it for interlaced files only)
  const long = writePng({ ...rgb, editData: (d) => concat([d, new Uint8Array(3)]) });
  assert.deepEqual(readPng(long).data, readPng(writePng(rgb)).data);
  rejects(
    writePng({ ...SAMPLES[2], palette: [[1, 2, 3], [4, 5, 6]] }),
    "palette index 2 is past the 2 PLTE entries",
  );
  rejects(
    writePng({ ...SAMPLES[2], palette: undefined, trns: undefined }),
    "palette image without a PLTE chunk",
  );
  rejects(writePng({ ...rgb, extra: [chunk("ABCD", new Uint8Array(2))] }), "unknown critical chunk ABCD");
  // an ancillary chunk nobody knows is skipped
  assert.equal(readPng(writePng({ ...rgb, extra: [chunk("abCD", new Uint8Array(2))] })).width, 7);
  rejects(
    writePng({ ...rgb, depth: 4, samples: rgb.samples.map((v) => v >> 4) }),
    "bit depth 4 with colour type 2",
  );
  rejects(writePng({ ...rgb, width: 0, height: 0, samples: [] }), "zero width or height");
  rejects(new Uint8Array([1, 2, 3, 4, 5]), "no PNG signature");
  const whole = writePng(rgb);
  const without = (type: string): Uint8Array =>
    concat([
      whole.subarray(0, 8),
      ...chunks(whole).filter(([, t]) => t !== type).map(([at, , n]) => whole.subarray(at, at + 12 + n)),
    ]);
  rejects(without("IDAT"), "invalid zlib data");
  rejects(without("IEND"), "the file ends before its IEND chunk");
  const text = chunk("tEXt", new TextEncoder().encode("Title\0first"));
  rejects(concat([whole.subarray(0, 8), text, whole.subarray(8)]), "IHDR is not the first chunk");
});

Deno.test("decodeImage() bundles for the browser without Node's modules and decodes there as here", async () => {
  const built = await esbuild.build({
    entryPoints: [new URL("../src/data/sources/_image_decode.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
    plugins: [{
      name: "no-node",
      setup(build) {
        build.onResolve({ filter: /^(node:|(buffer|zlib|stream|util|assert|fs|path)$)/ }, (args) => ({
          errors: [{ text: `${args.importer} needs ${args.path}` }],
        }));
      },
    }],
  });
  await esbuild.stop();
  const code = built.outputFiles[0].contents;
  const url = `data:text/javascript;base64,${btoa(Array.from(code, (b) => String.fromCharCode(b)).join(""))}`;
  const bundled: typeof import("../src/data/sources/_image_decode.ts") = await import(url);
  for (const { name, spec } of allKinds()) {
    const bytes = writePng(spec);
    assert.deepEqual(bundled.decodeImage(bytes, "x.png").pixels, decodeImage(bytes, "x.png").pixels, name);
  }
  assert.throws(() => bundled.decodeImage(writePng(SAMPLES[0]).subarray(0, 50), "dir/a.png"), {
    name: "DataError",
    message: "dir/a.png: is not a readable PNG image (chunk IDAT runs past the end of the file)",
  });
});

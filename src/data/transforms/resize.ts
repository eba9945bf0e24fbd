/** Resizing square grayscale images: area averaging (down or up), nearest and bilinear upsampling. */

/** For each output index, the input indices it covers and the share of each (shares sum to 1). */
function areaWeights(inSize: number, outSize: number): { index: number[]; weight: number[] }[] {
  const scale = inSize / outSize;
  const out: { index: number[]; weight: number[] }[] = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * scale;
    const end = (o + 1) * scale;
    const index: number[] = [];
    const weight: number[] = [];
    for (let i = Math.floor(start); i < Math.min(inSize, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 1e-12) {
        index.push(i);
        weight.push(overlap / scale);
      }
    }
    out.push({ index, weight });
  }
  return out;
}

function checkSide(name: string, side: number): void {
  if (!Number.isInteger(side) || side <= 0) {
    throw new RangeError(`${name} must be a positive integer, found ${side}`);
  }
}

/**
 * Area-average resize of one width x height image to outWidth x outHeight: each output pixel is the mean of
 * the input area it covers (fractional overlaps weighted), like PIL's BOX filter or OpenCV's INTER_AREA.
 */
export function areaResize(
  image: Float32Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Float32Array {
  for (
    const [n, v] of [["width", width], ["height", height], ["outWidth", outWidth], [
      "outHeight",
      outHeight,
    ]] as const
  ) {
    checkSide(n, v);
  }
  if (image.length !== width * height) {
    throw new RangeError(
      `image has ${image.length} values, expected ${width} x ${height} = ${width * height}`,
    );
  }
  const wx = areaWeights(width, outWidth);
  const wy = areaWeights(height, outHeight);
  const rows = new Float32Array(height * outWidth);
  for (let y = 0; y < height; y++) {
    for (let ox = 0; ox < outWidth; ox++) {
      const { index, weight } = wx[ox];
      let acc = 0;
      for (let k = 0; k < index.length; k++) acc += weight[k] * image[y * width + index[k]];
      rows[y * outWidth + ox] = acc;
    }
  }
  const out = new Float32Array(outHeight * outWidth);
  for (let oy = 0; oy < outHeight; oy++) {
    const { index, weight } = wy[oy];
    for (let ox = 0; ox < outWidth; ox++) {
      let acc = 0;
      for (let k = 0; k < index.length; k++) acc += weight[k] * rows[index[k] * outWidth + ox];
      out[oy * outWidth + ox] = acc;
    }
  }
  return out;
}

/** How a small image is brought back up to full size. */
export type UpsampleMode = "nearest" | "bilinear";

/**
 * Upsamples one square image of side `from` to side `to`. Pixel centres sit at half-integers (PyTorch's
 * align_corners=false): nearest takes the input pixel containing the output centre; bilinear interpolates
 * between the nearest input centres, clamping at the border.
 */
export function upsample(image: Float32Array, from: number, to: number, mode: UpsampleMode): Float32Array {
  checkSide("from", from);
  checkSide("to", to);
  if (image.length !== from * from) {
    throw new RangeError(`image has ${image.length} values, expected ${from} x ${from} = ${from * from}`);
  }
  const out = new Float32Array(to * to);
  const scale = from / to;
  if (mode === "nearest") {
    const src = Array.from({ length: to }, (_, o) => Math.min(from - 1, Math.floor((o + 0.5) * scale)));
    for (let y = 0; y < to; y++) {
      for (let x = 0; x < to; x++) out[y * to + x] = image[src[y] * from + src[x]];
    }
    return out;
  }
  if (mode !== "bilinear") {
    throw new RangeError(`upsample mode must be "nearest" or "bilinear", found ${JSON.stringify(mode)}`);
  }
  const lo = new Int32Array(to);
  const hi = new Int32Array(to);
  const frac = new Float64Array(to);
  for (let o = 0; o < to; o++) {
    const c = Math.min(from - 1, Math.max(0, (o + 0.5) * scale - 0.5));
    lo[o] = Math.floor(c);
    hi[o] = Math.min(from - 1, lo[o] + 1);
    frac[o] = c - lo[o];
  }
  for (let y = 0; y < to; y++) {
    for (let x = 0; x < to; x++) {
      const a = image[lo[y] * from + lo[x]];
      const b = image[lo[y] * from + hi[x]];
      const c = image[hi[y] * from + lo[x]];
      const d = image[hi[y] * from + hi[x]];
      const top = a + (b - a) * frac[x];
      const bottom = c + (d - c) * frac[x];
      out[y * to + x] = top + (bottom - top) * frac[y];
    }
  }
  return out;
}

/**
 * The [outSize, inSize] matrix (row-major, float64) of a bilinear resize along one axis: output pixel o takes
 * the triangle filter centred at (o + 0.5) * in / out, as wide as one input pixel when upsampling and one
 * output pixel when downsampling, over the input pixel centres inside the image, weights normalised to sum 1.
 * This is PIL's BILINEAR filter before its 8-bit rounding and torch's `interpolate(mode="bilinear",
 * align_corners=False, antialias=True)`; upsampling, it is the same as `upsample(..., "bilinear")` and as
 * torch without antialias. A 2-D resize applies it to rows and to columns.
 */
export function bilinearWeights(inSize: number, outSize: number): Float64Array {
  checkSide("inSize", inSize);
  checkSide("outSize", outSize);
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const out = new Float64Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    let total = 0;
    const first = Math.max(0, Math.floor(centre - support)),
      last = Math.min(inSize, Math.ceil(centre + support));
    for (let i = first; i < last; i++) {
      const w = Math.max(0, 1 - Math.abs(i + 0.5 - centre) / support);
      out[o * inSize + i] = w;
      total += w;
    }
    for (let i = first; i < last; i++) out[o * inSize + i] /= total;
  }
  return out;
}

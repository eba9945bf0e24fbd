/**
 * Kernel operands read from textures. Mesa's lavapipe (22.3) compiles a storage-buffer load into a loop over
 * the 8 lanes of its SIMD group, one scalar load and two branches a lane, while a texture load is one gather;
 * a matmul reading both operands from rgba32float textures ran 4-8x the GFLOPS per CPU-second of the same
 * kernel over storage buffers (bench/NOTES.md). A program copies such an operand's bytes into a texture
 * before the dispatch: the value stays in its planned buffer, the texture is a scratch copy.
 */

/**
 * How an operand is held: vec4s in rgba32float texels, floats in r32float ones; packed 16-bit weights as
 * their 32-bit words, two a texel (rg32uint, for vec2u reads) or one (r32uint).
 */
export type OperandFormat = "rgba32float" | "r32float" | "rg32uint" | "r32uint";

/** Bytes of one texture row: element i of a flat operand lives at (i % width, i / width). */
const ROW_BYTES = 32768;

/** Texels a texture row of `format` holds. */
export function textureWidth(format: OperandFormat): number {
  return ROW_BYTES / texelBytes(format);
}

function texelBytes(format: OperandFormat): number {
  return format === "rgba32float" ? 16 : format === "rg32uint" ? 8 : 4;
}

/** The WGSL type an array holds, the texture format holding it, and what of a texel is its value. */
const HELD: Record<string, { format: OperandFormat; sample: "f32" | "u32"; part: string }> = {
  vec4f: { format: "rgba32float", sample: "f32", part: "" },
  f32: { format: "r32float", sample: "f32", part: ".x" },
  vec2u: { format: "rg32uint", sample: "u32", part: ".xy" },
  u32: { format: "r32uint", sample: "u32", part: ".x" },
};

const enabled = new WeakMap<GPUDevice, boolean>();

/** Whether programs on `device` read textured operands (set for lavapipe when the device is acquired). */
export function textureReads(device: GPUDevice): boolean {
  return enabled.get(device) ?? false;
}

/** Turns textured operands on or off for programs compiled on `device` from now on. */
export function setTextureReads(device: GPUDevice, on: boolean): void {
  enabled.set(device, on);
}

/** Whether an adapter is one whose storage loads are scalar loops (Mesa's llvmpipe/lavapipe). */
export function prefersTextures(description: string): boolean {
  return /llvmpipe|lavapipe/i.test(description);
}

/** Texture rows holding `bytes` (a multiple of 16). */
export function textureRows(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / ROW_BYTES));
}

/** Bytes a texture of `rows` rows takes. */
export function textureBytes(rows: number): number {
  return rows * ROW_BYTES;
}

/** A scratch texture of `rows` rows. */
export function operandTexture(
  device: GPUDevice,
  format: OperandFormat,
  rows: number,
  label: string,
): GPUTexture {
  return device.createTexture({
    size: [textureWidth(format), rows],
    format,
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
    label,
  });
}

/** Encodes the copy of `bytes` bytes of `buffer` from `offset` (multiples of 16) into the start of `texture`. */
export function copyToTexture(
  encoder: GPUCommandEncoder,
  buffer: GPUBuffer,
  offset: number,
  bytes: number,
  texture: GPUTexture,
): void {
  const texel = texelBytes(texture.format as OperandFormat);
  const rows = Math.floor(bytes / ROW_BYTES);
  const rest = (bytes - rows * ROW_BYTES) / texel;
  if (rows > 0) {
    encoder.copyBufferToTexture(
      { buffer, offset, bytesPerRow: ROW_BYTES, rowsPerImage: rows },
      { texture },
      [ROW_BYTES / texel, rows, 1],
    );
  }
  if (rest > 0) {
    encoder.copyBufferToTexture(
      { buffer, offset: offset + rows * ROW_BYTES, bytesPerRow: ROW_BYTES },
      { texture, origin: [0, rows, 0] },
      [rest, 1, 1],
    );
  }
}

/**
 * `source` with the arrays named in `names` (declared `var<storage, read> NAME: array<T>;`, T vec4f, f32,
 * vec2u, u32, or an alias of one) read from textures: the declaration becomes a texture_2d<f32> (or <u32>)
 * and every `NAME[i]` a textureLoad. Returns the rewritten source and each operand's texture format.
 */
export function texturedSource(
  source: string,
  names: readonly string[],
): { source: string; formats: OperandFormat[] } {
  let out = source;
  const formats: OperandFormat[] = [];
  for (const name of names) {
    const decl = new RegExp(`var<storage, read> ${name}: array<(\\w+)>;`);
    const found = decl.exec(out);
    if (!found) throw new Error(`kernel lacks "var<storage, read> ${name}: array<...>;"`);
    const alias = new RegExp(`^alias ${found[1]} = (\\w+);$`, "m").exec(out)?.[1];
    const type = alias ?? found[1];
    const held = HELD[type];
    if (!held) throw new Error(`kernel's ${name} holds ${type}, not vec4f, f32, vec2u or u32`);
    // a parameter or local of the same name would have its reads rewritten too, silently: refuse it
    const other = new RegExp(`(\\b(let|var|const)\\s+${name}\\b)|([(,]\\s*${name}\\s*:)`);
    if (other.test(out.replace(decl, ""))) {
      throw new Error(
        `kernel declares another "${name}" besides the array; the rewrite would replace its reads`,
      );
    }
    const { format, sample, part } = held;
    const width = textureWidth(format);
    const at = `${name}_at`;
    const texel = `textureLoad(${name}, vec2u(i & ${width - 1}u, i >> ${Math.log2(width)}u), 0)`;
    out = out.replace(
      decl,
      `var ${name}: texture_2d<${sample}>;\nfn ${at}(i: u32) -> ${type} { return ${texel}${part}; }`,
    );
    out = out.replace(new RegExp(`\\b${name}\\[([^\\[\\]]+)\\]`, "g"), `${at}($1)`);
    if (new RegExp(`\\b${name}\\[`).test(out)) {
      throw new Error(`kernel indexes ${name} in a form not rewritten`);
    }
    formats.push(format);
  }
  return { source: out, formats };
}

/**
 * Kernel operands read from textures. Mesa's lavapipe (22.3) compiles a storage-buffer load into a loop over
 * the 8 lanes of its SIMD group, one scalar load and two branches a lane, while a texture load is one gather;
 * a matmul reading both operands from rgba32float textures ran 4-8x the GFLOPS per CPU-second of the same
 * kernel over storage buffers (bench/NOTES.md). A program copies such an operand's bytes into a texture
 * before the dispatch: the value stays in its planned buffer, the texture is a scratch copy.
 */

/** Texels a texture row holds: vec4 index i lives at (i % WIDTH, i / WIDTH). */
export const TEXTURE_WIDTH = 2048;
const ROW_BYTES = TEXTURE_WIDTH * 16;

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
export function operandTexture(device: GPUDevice, rows: number, label: string): GPUTexture {
  return device.createTexture({
    size: [TEXTURE_WIDTH, rows],
    format: "rgba32float",
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
  const rows = Math.floor(bytes / ROW_BYTES);
  const rest = (bytes - rows * ROW_BYTES) / 16;
  if (rows > 0) {
    encoder.copyBufferToTexture(
      { buffer, offset, bytesPerRow: ROW_BYTES, rowsPerImage: rows },
      { texture },
      [TEXTURE_WIDTH, rows, 1],
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
 * `source` with the vec4 arrays named in `names` (declared `var<storage, read> NAME: array<vec4f>;`) read
 * from textures: the declaration becomes a texture_2d<f32> and every `NAME[i]` a textureLoad.
 */
export function texturedSource(source: string, names: readonly string[]): string {
  const log = Math.log2(TEXTURE_WIDTH);
  let out = source;
  for (const name of names) {
    const decl = new RegExp(`var<storage, read> ${name}: array<vec4f>;`);
    if (!decl.test(out)) throw new Error(`kernel lacks "var<storage, read> ${name}: array<vec4f>;"`);
    const at = `${name}_at`;
    out = out.replace(
      decl,
      `var ${name}: texture_2d<f32>;\nfn ${at}(i: u32) -> vec4f { ` +
        `return textureLoad(${name}, vec2u(i & ${TEXTURE_WIDTH - 1}u, i >> ${log}u), 0); }`,
    );
    out = out.replace(new RegExp(`\\b${name}\\[([^\\[\\]]+)\\]`, "g"), `${at}($1)`);
    if (new RegExp(`\\b${name}\\[`).test(out)) {
      throw new Error(`kernel indexes ${name} in a form not rewritten`);
    }
  }
  return out;
}

/**
 * The safetensors file format: float32 tensors are written; F32, F16 and BF16 are read (as float32). The layout: an 8-byte little-endian header length N, N bytes of JSON
 * (`{"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}}`,
 * padded with spaces to a multiple of 8), then the raw little-endian tensor bytes. Offsets are relative to
 * the start of the data and the tensors tile it without gaps, as the reference implementation requires.
 */

/** A dense float32 tensor in row-major order. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** The on-disk element types that are read; all are widened to float32. */
export type StoredDtype = "F32" | "F16" | "BF16";

/** The contents of a safetensors file. */
export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  /** Each tensor's element type on disk. */
  dtypes: Record<string, StoredDtype>;
}

const DTYPE_BYTES: Record<StoredDtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** A safetensors file that is malformed, or tensors that cannot be written. */
export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const MAX_HEADER = 100_000_000;

/** Serialises tensors (written in name order) and string metadata into safetensors bytes. */
export function writeSafetensors(
  tensors: Record<string, Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new SafetensorsError(`metadata "${key}" must be a string, found ${typeof value}`);
      }
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === "" || name === "__metadata__") {
      throw new SafetensorsError(`tensor name "${name}" is reserved`);
    }
    const { shape, data } = tensors[name];
    checkShape(name, shape);
    if (product(shape) !== data.length) {
      throw new SafetensorsError(
        `tensor "${name}" has shape [${shape.join(", ")}] (${
          product(shape)
        } values) but ${data.length} values`,
      );
    }
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors[name];
    out.set(littleEndianBytes(data), at);
    at += data.byteLength;
  }
  return out;
}

/** Parses safetensors bytes holding F32, F16 or BF16 tensors (returned as float32); throws SafetensorsError saying what is wrong and where. */
export function readSafetensors(bytes: Uint8Array): SafetensorsContents {
  const { headerLength, metadata, entries } = readSafetensorsHeader(bytes, bytes.length);
  const data = bytes.subarray(8 + headerLength);
  const tensors: Record<string, Tensor> = {};
  const dtypes: Record<string, StoredDtype> = {};
  for (const e of entries) {
    tensors[e.name] = { shape: e.shape, data: widen(e.dtype, data.subarray(e.begin, e.end)) };
    dtypes[e.name] = e.dtype;
  }
  return { tensors, metadata, dtypes };
}

/** One tensor as a header describes it; offsets are bytes from the start of the data. */
export interface SafetensorsEntry {
  name: string;
  dtype: StoredDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** What the header of a safetensors file says. */
export interface SafetensorsHeader {
  /** Bytes of JSON after the 8-byte length. */
  headerLength: number;
  metadata: Record<string, string>;
  entries: SafetensorsEntry[];
}

/**
 * Parses and checks a header against the file's length without reading tensor data: `prefix` holds the
 * file's first bytes (8 are enough to learn the header length; 8 + that length to parse it).
 */
export function readSafetensorsHeader(prefix: Uint8Array, fileLength: number): SafetensorsHeader {
  if (fileLength < 8) {
    throw new SafetensorsError(`file is ${fileLength} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const declared = view.getBigUint64(0, true);
  const available = fileLength - 8;
  if (declared > BigInt(Math.min(available, MAX_HEADER))) {
    throw new SafetensorsError(
      `header length ${declared} exceeds the ${available} bytes that follow it` +
        (declared > BigInt(MAX_HEADER) ? ` (and the ${MAX_HEADER}-byte limit)` : "") +
        "; the file is truncated or not a safetensors file",
    );
  }
  const headerLength = Number(declared);
  if (prefix.length < 8 + headerLength) {
    throw new RangeError(
      `readSafetensorsHeader: needs the first ${8 + headerLength} bytes, given ${prefix.length}`,
    );
  }
  const header = parseHeader(prefix.subarray(8, 8 + headerLength));
  const dataLength = fileLength - 8 - headerLength;

  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = checkMetadata(value);
      continue;
    }
    entries.push({ name, ...checkEntry(name, value) });
  }
  const needed = entries.reduce((m, e) => Math.max(m, e.end), 0);
  if (needed > dataLength) {
    throw new SafetensorsError(
      `file is truncated: the header places tensor data up to byte ${needed} but ${dataLength} bytes follow it`,
    );
  }
  // the tensors must tile the data region exactly: sorted by start, each begins where the previous ended
  let expected = 0;
  for (const e of [...entries].sort((x, y) => x.begin - y.begin || x.end - y.end)) {
    if (e.begin !== expected) {
      throw new SafetensorsError(
        `tensor "${e.name}" starts at byte ${e.begin} of the data but the previous tensor ends at ${expected} ` +
          "(overlapping or non-contiguous data_offsets)",
      );
    }
    expected = e.end;
  }
  if (expected !== dataLength) {
    throw new SafetensorsError(`tensors cover ${expected} bytes of data but the file holds ${dataLength}`);
  }
  return { headerLength, metadata, entries };
}

function parseHeader(bytes: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new SafetensorsError("header is not valid UTF-8");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new SafetensorsError("header must be a JSON object of tensor entries");
  }
  return parsed as Record<string, unknown>;
}

function checkMetadata(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SafetensorsError("__metadata__ must be an object of strings");
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(`__metadata__ "${key}" must be a string, found ${JSON.stringify(v)}`);
    }
  }
  return { ...(value as Record<string, string>) };
}

function checkEntry(
  name: string,
  value: unknown,
): { dtype: StoredDtype; shape: number[]; begin: number; end: number } {
  const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof value !== "object" || value === null) {
    throw new SafetensorsError(`tensor "${name}": entry must be an object, found ${JSON.stringify(value)}`);
  }
  if (typeof entry.dtype !== "string" || !Object.hasOwn(DTYPE_BYTES, entry.dtype)) {
    throw new SafetensorsError(
      `tensor "${name}": dtype ${JSON.stringify(entry.dtype)} is not supported (F32, F16 or BF16)`,
    );
  }
  const dtype = entry.dtype as StoredDtype;
  const width = DTYPE_BYTES[dtype];
  if (!Array.isArray(entry.shape)) throw new SafetensorsError(`tensor "${name}": shape must be an array`);
  const shape = entry.shape as number[];
  checkShape(name, shape);
  const offsets = entry.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new SafetensorsError(
      `tensor "${name}": data_offsets must be two non-negative integers, found ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as number[];
  if (begin > end) {
    throw new SafetensorsError(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
  }
  if (end - begin !== product(shape) * width) {
    throw new SafetensorsError(
      `tensor "${name}": shape [${shape.join(", ")}] as ${dtype} needs ${product(shape) * width} bytes ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { dtype, shape: [...shape], begin, end };
}

function checkShape(name: string, shape: number[]): void {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(
      `tensor "${name}": shape must hold non-negative integers, found ${JSON.stringify(shape)}`,
    );
  }
}

function product(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** The bytes of `data` in little-endian order, copied as bits so NaN payloads survive. */
function littleEndianBytes(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return LITTLE_ENDIAN ? bytes : swap32(bytes);
}

function float32FromLittleEndian(bytes: Uint8Array): Float32Array {
  const copy = LITTLE_ENDIAN ? bytes.slice() : swap32(bytes);
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

/** Float32 values of little-endian F32, F16 or BF16 bytes; every half and bfloat16 value is exact in f32. */
export function widen(dtype: StoredDtype, bytes: Uint8Array): Float32Array {
  if (dtype === "F32") return float32FromLittleEndian(bytes);
  const n = bytes.length / 2;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const h = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    bits[i] = dtype === "BF16" ? h << 16 : halfToFloatBits(h);
  }
  return out;
}

/** IEEE binary16 bits to binary32 bits: subnormals normalised, infinities and NaN payloads kept. */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  let exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    exp = 1;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      exp--;
    }
    mant &= 0x3ff;
  }
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

function swap32(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) {
    out[i] = bytes[i + 3];
    out[i + 1] = bytes[i + 2];
    out[i + 2] = bytes[i + 1];
    out[i + 3] = bytes[i];
  }
  return out;
}

/** Named weights and shapes from a safetensors file. */
export function readWeights(
  bytes: Uint8Array,
): { weights: Map<string, Float32Array>; shapes: Map<string, number[]> } {
  const { tensors } = readSafetensors(bytes);
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of Object.entries(tensors)) {
    weights.set(name, t.data);
    shapes.set(name, t.shape);
  }
  return { weights, shapes };
}

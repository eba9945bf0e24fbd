/**
 * Token streams cached on disk, by content: a corpus's file is named by the SHA-256 of what made it (the
 * source files' bytes, the tokenizer files' bytes, the record options and the encoding), so every stage,
 * run and sweep variant that reads the same data through the same tokenizer loads it instead of
 * tokenizing again. A file that is short, has the wrong key, or whose checksum does not match is rebuilt.
 *
 * Layout: "MXTOKEN1", header length (u32 LE), JSON header, ids (u8 for bytes; u16 LE when every id is below
 * 65,536, i32 LE otherwise), offsets (f64 LE), trained flags (u8, examples only), each section padded to 8
 * bytes, then the SHA-256 of all before it. The file is read in slices straight into the corpus's arrays
 * (16-bit ids widened to i32 as they arrive), so loading holds the corpus and one slice, not the file too.
 */
import { createHash } from "node:crypto";
import type { TokenCorpus } from "../corpus.ts";

const MAGIC = "MXTOKEN1";
const VERSION = 1;
const SLICE = 1 << 22;

interface Header {
  version: number;
  key: string;
  idBytes: 1 | 2 | 4;
  tokens: number;
  offsets: number;
  trained: boolean;
}

/** SHA-256 (hex) of a file's bytes, read as a stream. */
export async function hashFile(path: string): Promise<string> {
  const h = createHash("sha256");
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(1 << 20);
    while (true) {
      const n = await file.read(buffer);
      if (n === null) break;
      h.update(buffer.subarray(0, n));
    }
  } finally {
    file.close();
  }
  return h.digest("hex");
}

/** SHA-256 (hex) of a JSON value's text: the cache key of what it describes. */
export function hashKey(parts: unknown): string {
  return createHash("sha256").update(JSON.stringify({ format: VERSION, parts })).digest("hex");
}

const pad8 = (n: number): number => (n + 7) & ~7;

function sections(h: Header): { ids: number; offsets: number; trained: number; end: number; start: number } {
  const headerBytes = new TextEncoder().encode(JSON.stringify(h)).length;
  const start = pad8(MAGIC.length + 4 + headerBytes);
  const ids = start;
  const offsets = pad8(ids + h.tokens * h.idBytes);
  const trained = pad8(offsets + h.offsets * 8);
  const end = h.trained ? pad8(trained + h.tokens) : trained;
  return { start, ids, offsets, trained, end };
}

/** Fills `buffer` from `file` unless it ends first; returns the bytes read. */
async function readFull(file: Deno.FsFile, buffer: Uint8Array): Promise<number> {
  let at = 0;
  while (at < buffer.length) {
    const n = await file.read(buffer.subarray(at));
    if (n === null) break;
    at += n;
  }
  return at;
}

/** Why a cache file cannot be trusted, or its corpus. */
export type CacheRead = { corpus: TokenCorpus } | { problem: string };

/** Reads and verifies a cache file; `undefined` when there is none. */
export async function readTokenCache(path: string, key: string): Promise<CacheRead | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return { problem: `cannot read it (${(e as Error).message})` };
  }
  try {
    return await readOpen(file, key);
  } catch (e) {
    return { problem: `cannot read it (${(e as Error).message})` };
  } finally {
    file.close();
  }
}

async function readOpen(file: Deno.FsFile, key: string): Promise<CacheRead> {
  const size = (await file.stat()).size;
  const slice = new Uint8Array(SLICE);
  let n = await readFull(file, slice);
  if (n < MAGIC.length + 4 + 32 || new TextDecoder().decode(slice.subarray(0, 8)) !== MAGIC) {
    return { problem: "it is not a token cache file" };
  }
  const headerLength = new DataView(slice.buffer).getUint32(8, true);
  let header: Header;
  try {
    if (12 + headerLength > n) throw new RangeError("header past the first slice");
    header = JSON.parse(new TextDecoder().decode(slice.subarray(12, 12 + headerLength)));
  } catch {
    return { problem: "its header is damaged" };
  }
  if (header.version !== VERSION || header.key !== key) return { problem: "its header names other data" };
  if (![1, 2, 4].includes(header.idBytes)) return { problem: "its header is damaged" };
  const at = sections(header);
  if (size !== at.end + 32) {
    return { problem: `it has ${size} bytes where its header says ${at.end + 32} (truncated?)` };
  }
  const ids = header.idBytes === 1 ? new Uint8Array(header.tokens) : new Int32Array(header.tokens);
  const offsets = new Float64Array(header.offsets);
  const trained = header.trained ? new Uint8Array(header.tokens) : undefined;
  const raw = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  // the byte ranges of the file that fill each array as they are (ids of 16 bits are widened below)
  const plain: [number, Uint8Array][] = [[at.offsets, raw(offsets)]];
  if (header.idBytes !== 2) plain.push([at.ids, raw(ids)]);
  if (trained) plain.push([at.trained, trained]);
  const wide = header.idBytes === 2 ? ids as Int32Array : undefined;
  const hash = createHash("sha256");
  const digest = new Uint8Array(32);
  let pos = 0; // file offset of slice[0]
  while (n > 0) {
    const hashed = Math.max(0, Math.min(n, at.end - pos));
    if (hashed > 0) hash.update(slice.subarray(0, hashed));
    for (const [start, dest] of plain) {
      const from = Math.max(pos, start), to = Math.min(pos + n, start + dest.length);
      if (from < to) dest.set(slice.subarray(from - pos, to - pos), from - start);
    }
    if (wide) {
      // slices are even-sized and the section starts on 8 bytes: no id is split between slices
      const from = Math.max(pos, at.ids), to = Math.min(pos + n, at.ids + 2 * wide.length);
      if (from < to) {
        const half = new Uint16Array(slice.buffer, from - pos, (to - from) / 2);
        wide.set(half, (from - at.ids) / 2);
      }
    }
    const tail = Math.max(pos, at.end);
    if (tail < pos + n) digest.set(slice.subarray(tail - pos, n), tail - at.end);
    pos += n;
    n = pos < size ? await readFull(file, slice) : 0;
  }
  if (pos !== size) return { problem: `it has ${pos} bytes where it had ${size} (changed while read?)` };
  if (!hash.digest().equals(digest)) return { problem: "its checksum does not match its contents" };
  const corpus: TokenCorpus = { ids, offsets };
  if (trained) corpus.trained = trained;
  return { corpus };
}

/** Writes a cache file atomically (a temporary file renamed into place). */
export async function writeTokenCache(path: string, key: string, corpus: TokenCorpus): Promise<void> {
  const header: Header = {
    version: VERSION,
    key,
    idBytes: corpus.ids instanceof Uint8Array ? 1 : below65536(corpus.ids) ? 2 : 4,
    tokens: corpus.ids.length,
    offsets: corpus.offsets.length,
    trained: corpus.trained !== undefined,
  };
  const at = sections(header);
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const head = new Uint8Array(at.start);
  head.set(new TextEncoder().encode(MAGIC));
  new DataView(head.buffer).setUint32(8, headerBytes.length, true);
  head.set(headerBytes, 12);
  const asBytes = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const parts: [number, Iterable<Uint8Array>][] = [
    [0, [head]],
    [at.ids, header.idBytes === 2 ? narrowed(corpus.ids as Int32Array) : [asBytes(corpus.ids)]],
    [at.offsets, [asBytes(corpus.offsets)]],
  ];
  if (corpus.trained) parts.push([at.trained, [corpus.trained]]);
  const dir = path.slice(0, path.lastIndexOf("/"));
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
  const hash = createHash("sha256");
  let written = 0;
  const write = async (b: Uint8Array): Promise<void> => {
    for (let i = 0; i < b.length; i += SLICE) hash.update(b.subarray(i, Math.min(b.length, i + SLICE)));
    for (let done = 0; done < b.length;) done += await file.write(b.subarray(done));
    written += b.length;
  };
  try {
    for (const [offset, pieces] of parts) {
      if (offset > written) await write(new Uint8Array(offset - written));
      for (const bytes of pieces) await write(bytes);
    }
    if (at.end > written) await write(new Uint8Array(at.end - written));
    const digest = hash.digest();
    for (let done = 0; done < digest.length;) done += await file.write(digest.subarray(done));
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

/** Whether every id fits 16 bits (a vocabulary under 65,536). */
function below65536(ids: Int32Array): boolean {
  for (let i = 0; i < ids.length; i++) if (ids[i] < 0 || ids[i] > 65535) return false;
  return true;
}

/** Ids (each in [0, 65536)) as u16 LE bytes, a slice at a time, so the stream is never copied whole. */
function* narrowed(ids: Int32Array): Generator<Uint8Array> {
  for (let i = 0; i < ids.length; i += SLICE / 2) {
    const half = Uint16Array.from(ids.subarray(i, Math.min(ids.length, i + SLICE / 2)));
    yield new Uint8Array(half.buffer);
  }
}

/**
 * Token streams cached on disk, by content: a corpus's file is named by the SHA-256 of what made it (the
 * source files' bytes, the tokenizer files' bytes, the record options and the encoding), so every stage,
 * run and sweep variant that reads the same data through the same tokenizer loads it instead of
 * tokenizing again. A file that is short, has the wrong key, or whose checksum does not match is rebuilt.
 *
 * Layout: "MXTOKEN1", header length (u32 LE), JSON header, ids (u8 or i32 LE), offsets (f64 LE),
 * trained flags (u8, examples only), each section padded to 8 bytes, then the SHA-256 of all before it.
 */
import { createHash } from "node:crypto";
import type { TokenCorpus } from "../corpus.ts";

const MAGIC = "MXTOKEN1";
const VERSION = 1;
const SLICE = 1 << 22;

interface Header {
  version: number;
  key: string;
  idBytes: 1 | 4;
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

/** A file's bytes read into one buffer of its size (Deno.readFile may hold a second copy while it reads). */
async function readWhole(path: string): Promise<Uint8Array> {
  const file = await Deno.open(path);
  try {
    const out = new Uint8Array((await file.stat()).size);
    let at = 0;
    while (at < out.length) {
      const n = await file.read(out.subarray(at, Math.min(out.length, at + (1 << 24))));
      if (n === null) break;
      at += n;
    }
    return out.subarray(0, at);
  } finally {
    file.close();
  }
}

/** Why a cache file cannot be trusted, or its corpus. */
export type CacheRead = { corpus: TokenCorpus } | { problem: string };

/** Reads and verifies a cache file; `undefined` when there is none. */
export async function readTokenCache(path: string, key: string): Promise<CacheRead | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readWhole(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return { problem: `cannot read it (${(e as Error).message})` };
  }
  if (bytes.length < MAGIC.length + 4 + 32 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    return { problem: "it is not a token cache file" };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength)));
  } catch {
    return { problem: "its header is damaged" };
  }
  if (header.version !== VERSION || header.key !== key) return { problem: "its header names other data" };
  const at = sections(header);
  if (bytes.length !== at.end + 32) {
    return { problem: `it has ${bytes.length} bytes where its header says ${at.end + 32} (truncated?)` };
  }
  const hash = createHash("sha256");
  // in slices: hashing a view may copy it, and the whole file is the size of the token stream
  for (let i = 0; i < at.end; i += SLICE) hash.update(bytes.subarray(i, Math.min(at.end, i + SLICE)));
  const digest = hash.digest();
  if (!digest.equals(bytes.subarray(at.end))) return { problem: "its checksum does not match its contents" };
  const buf = bytes.buffer;
  const base = bytes.byteOffset;
  const ids = header.idBytes === 1
    ? new Uint8Array(buf, base + at.ids, header.tokens)
    : new Int32Array(buf, base + at.ids, header.tokens);
  const corpus: TokenCorpus = { ids, offsets: new Float64Array(buf, base + at.offsets, header.offsets) };
  if (header.trained) corpus.trained = new Uint8Array(buf, base + at.trained, header.tokens);
  return { corpus };
}

/** Writes a cache file atomically (a temporary file renamed into place). */
export async function writeTokenCache(path: string, key: string, corpus: TokenCorpus): Promise<void> {
  const header: Header = {
    version: VERSION,
    key,
    idBytes: corpus.ids instanceof Uint8Array ? 1 : 4,
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
  const parts: [number, Uint8Array][] = [[0, head], [at.ids, asBytes(corpus.ids)], [
    at.offsets,
    asBytes(corpus.offsets),
  ]];
  if (corpus.trained) parts.push([at.trained, corpus.trained]);
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
    for (const [offset, bytes] of parts) {
      if (offset > written) await write(new Uint8Array(offset - written));
      await write(bytes);
    }
    if (at.end > written) await write(new Uint8Array(at.end - written));
    const digest = hash.digest();
    for (let done = 0; done < digest.length;) done += await file.write(digest.subarray(done));
  } finally {
    file.close();
  }
  await Deno.rename(tmp, path);
}

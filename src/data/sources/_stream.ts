/**
 * Streaming reads of data files: raw chunks (gunzipped for `.gz`) and UTF-8 lines with their numbers. A file is
 * never held whole; a line is held only while it is parsed.
 */
import { files, type SyncFile } from "../../host/files.ts";
import { DataError } from "../errors.ts";

const NEWLINE = 0x0a;
const CHUNK = 1 << 20;

/** Whether a path names a gzip file (decompressed while it is read). */
export function isGzip(path: string): boolean {
  return path.endsWith(".gz");
}

/** The bytes of `path` in chunks of about 1 MB, gunzipped when the name ends in `.gz`; errors name the file. */
export async function* readChunks(
  path: string,
  onRead?: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  // through the host's files (src/host/files.ts): Deno's, or the files a page was given
  let file: SyncFile;
  try {
    file = files().openSync(path);
  } catch (e) {
    if (files().notFound(e)) throw new DataError("no such file", { file: path });
    throw new DataError(`cannot open (${(e as Error).message})`, { file: path });
  }
  try {
    if (!isGzip(path)) {
      yield* rawChunks(file, onRead);
      return;
    }
    const chunks = rawChunks(file, onRead);
    const raw = new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull(out) {
        const next = chunks.next();
        if (next.done) out.close();
        else out.enqueue(next.value);
      },
    });
    try {
      for await (const chunk of raw.pipeThrough(new DecompressionStream("gzip"))) yield chunk;
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(`is not a valid gzip file (${(e as Error).message})`, { file: path });
    }
  } finally {
    file.close();
  }
}

/** The file's bytes in chunks of up to CHUNK, each a new array (the caller may keep it). */
function* rawChunks(file: SyncFile, onRead?: (bytes: number) => void): Generator<Uint8Array<ArrayBuffer>> {
  let position = 0;
  while (true) {
    const buffer = new Uint8Array(CHUNK);
    const n = file.readAt(buffer, position);
    if (n === 0) break;
    position += n;
    onRead?.(n);
    yield n === CHUNK ? buffer : buffer.slice(0, n);
  }
}

/** One line of a file: its bytes without the newline (and a trailing `\r`), and its 1-based number. */
export interface Line {
  bytes: Uint8Array;
  line: number;
}

/** The lines of `path` as bytes (split at `\n`, which never occurs inside a UTF-8 sequence). */
export async function* readLineBytes(path: string, onRead?: (bytes: number) => void): AsyncGenerator<Line> {
  let partial: Uint8Array[] = [];
  let line = 1;
  const finish = (last: Uint8Array): Uint8Array => {
    let bytes = last;
    if (partial.length > 0) {
      bytes = new Uint8Array(partial.reduce((n, p) => n + p.length, 0) + last.length);
      let at = 0;
      for (const p of partial) {
        bytes.set(p, at);
        at += p.length;
      }
      bytes.set(last, at);
      partial = [];
    }
    return bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.subarray(0, bytes.length - 1) : bytes;
  };
  for await (const chunk of readChunks(path, onRead)) {
    let start = 0;
    while (true) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end < 0) break;
      yield { bytes: finish(chunk.subarray(start, end)), line: line++ };
      start = end + 1;
    }
    if (start < chunk.length) partial.push(chunk.subarray(start));
  }
  if (partial.length > 0) yield { bytes: finish(new Uint8Array(0)), line };
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes one line as UTF-8 (a byte-order mark on line 1 is dropped); invalid UTF-8 names file and line. */
export function decodeLine(path: string, l: Line): string {
  try {
    const text = decoder.decode(l.bytes);
    return l.line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    throw new DataError("is not valid UTF-8", { file: path, line: l.line });
  }
}

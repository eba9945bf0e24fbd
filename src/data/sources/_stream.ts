/**
 * Streaming reads of data files: raw chunks (gunzipped for `.gz`) and UTF-8 lines with their numbers. A file is
 * never held whole; a line is held only while it is parsed.
 */
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
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DataError("no such file", { file: path });
    throw new DataError(`cannot open (${(e as Error).message})`, { file: path });
  }
  if (isGzip(path)) {
    const counted = onRead
      ? file.readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, out) {
            onRead(chunk.length);
            out.enqueue(chunk);
          },
        }),
      )
      : file.readable;
    const stream = (counted as ReadableStream<BufferSource>).pipeThrough(new DecompressionStream("gzip"));
    try {
      for await (const chunk of stream) yield chunk;
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(`is not a valid gzip file (${(e as Error).message})`, { file: path });
    }
    return;
  }
  try {
    const buffer = new Uint8Array(CHUNK);
    while (true) {
      const n = await file.read(buffer);
      if (n === null) break;
      onRead?.(n);
      // a copy: the caller may keep the chunk while the next one is read
      yield buffer.slice(0, n);
    }
  } finally {
    file.close();
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

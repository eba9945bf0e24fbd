/**
 * Plain text: a file, or a folder of files (one document per file, in name order), read as a stream of
 * pieces. A piece ends just after a newline between two printable ASCII characters, where the regex
 * pre-tokenizers of byte-level BPE (GPT-2, Llama 3, Qwen) always split, so encoding piece by piece gives
 * the ids of encoding the whole file.
 */
import { type DirEntry, type FileInfo, files as hostFiles } from "../../host/files.ts";
import { DataError } from "../errors.ts";
import { readChunks } from "./_stream.ts";

/** Regular, non-hidden files of `dir`, sorted by name; a missing folder is a DataError. */
export function listFiles(dir: string): string[] {
  let entries: DirEntry[];
  try {
    entries = hostFiles().readDirSync(dir);
  } catch (e) {
    throw new DataError(`cannot read folder (${(e as Error).message})`, { file: dir });
  }
  return entries.filter((e) => e.isFile && !e.name.startsWith(".")).map((e) => e.name).sort();
}

/** A file name without its last extension. */
export function stem(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * The files of a source path: the file itself, or a folder's files by name (hidden ones skipped), only those
 * ending in `extension` when one is given; a folder with none is a DataError naming it.
 */
export function filesAt(path: string, extension = ""): string[] {
  let info: FileInfo;
  try {
    info = hostFiles().statSync(path);
  } catch (e) {
    throw new DataError(`cannot read (${(e as Error).message})`, { file: path });
  }
  if (info.isFile) return [path];
  const files = listFiles(path).filter((name) => name.endsWith(extension)).map((name) => `${path}/${name}`);
  if (files.length === 0) throw new DataError(`has no ${extension || "text"} files`, { file: path });
  return files;
}

/** The text files of a path: the file itself, or a folder's files (hidden ones skipped) by name. */
export function textFiles(path: string): string[] {
  return filesAt(path);
}

/** Pieces are cut once they are at least this long. */
const PIECE = 1 << 20;

function printable(b: number): boolean {
  return b > 0x20 && b < 0x7f;
}

/** The end (exclusive) of the last safe cut inside `bytes`, or -1. */
function lastCut(bytes: Uint8Array): number {
  for (let i = bytes.length - 2; i > 0; i--) {
    if (bytes[i] === 0x0a && printable(bytes[i - 1]) && printable(bytes[i + 1])) return i + 1;
  }
  return -1;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The text of `file` in pieces of about 1 MB cut at safe newlines (`split`), or whole (`split` false: for
 * tokenizers that prepend a marker to every encoded string); invalid UTF-8 is a DataError naming the file.
 */
export async function* readTextPieces(
  file: string,
  split = true,
  onRead?: (bytes: number) => void,
): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const decode = (bytes: Uint8Array, stream: boolean): string => {
    try {
      return decoder.decode(bytes, { stream });
    } catch {
      throw new DataError("is not valid UTF-8 text", { file });
    }
  };
  if (!split) {
    const parts: string[] = [];
    for await (const chunk of readChunks(file, onRead)) parts.push(decode(chunk, true));
    parts.push(decode(new Uint8Array(0), false));
    yield parts.join("");
    return;
  }
  // chunks held since the last cut; only the newest is searched, so each byte is scanned about once
  let held: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of readChunks(file, onRead)) {
    held.push(chunk);
    size += chunk.length;
    if (size < PIECE) continue;
    const cut = lastCut(chunk);
    if (cut < 0) continue;
    held[held.length - 1] = chunk.subarray(0, cut);
    yield decode(concat(held), true);
    held = [chunk.subarray(cut)];
    size = chunk.length - cut;
  }
  yield decode(concat(held), false);
}

/**
 * The page's files: a folder tree in memory. The core's writers (the adapter folder, for one) write here,
 * and the page zips what they wrote for download; the reader's own files (picked or dropped) are added
 * here for the data sources to read by their names; reading a path never added is "not found". Paths are
 * relative to the root: `data.jsonl`, `./data.jsonl` and `/data.jsonl` name the same file.
 */
import type { DirEntry, FileInfo, Files, SyncFile } from "../../host/files.ts";

class NotFound extends Error {
  override name = "NotFound";
}

/** Files kept in memory by path. */
export class MemoryFiles implements Files {
  readonly files = new Map<string, Uint8Array>();

  #get(path: string): Uint8Array {
    const bytes = this.files.get(normal(path));
    if (!bytes) throw notFound(path);
    return bytes;
  }

  /** Whether a file is at `path`. */
  has(path: string): boolean {
    return this.files.has(normal(path));
  }

  /** The files under `dir`, by their path relative to it. */
  under(dir: string): Map<string, Uint8Array> {
    const d = normal(dir);
    const prefix = d === "" ? "" : `${d}/`;
    return new Map(
      [...this.files].filter(([p]) => p.startsWith(prefix)).map(([p, b]) => [p.slice(prefix.length), b]),
    );
  }

  readFile(path: string): Promise<Uint8Array> {
    return Promise.resolve().then(() => this.#get(path));
  }
  readTextFile(path: string): Promise<string> {
    return this.readFile(path).then((b) => new TextDecoder().decode(b));
  }
  readFileSync(path: string): Uint8Array {
    return this.#get(path);
  }
  readTextFileSync(path: string): string {
    return new TextDecoder().decode(this.#get(path));
  }
  writeFile(path: string, data: Uint8Array): Promise<void> {
    this.files.set(normal(path), data.slice());
    return Promise.resolve();
  }
  writeTextFile(path: string, text: string): Promise<void> {
    return this.writeFile(path, new TextEncoder().encode(text));
  }
  mkdir(): Promise<void> {
    return Promise.resolve();
  }
  stat(path: string): Promise<FileInfo> {
    return Promise.resolve().then(() => this.statSync(path));
  }
  statSync(path: string): FileInfo {
    const bytes = this.files.get(normal(path));
    if (bytes) return { isFile: true, isDirectory: false, size: bytes.length, mtime: null };
    if (this.under(path).size > 0) return { isFile: false, isDirectory: true, size: 0, mtime: null };
    throw notFound(path);
  }
  async *readDir(path: string): AsyncIterable<DirEntry> {
    for (const e of this.readDirSync(path)) yield e;
  }
  readDirSync(path: string): DirEntry[] {
    if (this.files.has(normal(path))) throw new Error(`${path}: not a folder`);
    const names = new Map<string, boolean>();
    for (const rest of this.under(path).keys()) {
      const cut = rest.indexOf("/");
      names.set(cut < 0 ? rest : rest.slice(0, cut), cut < 0);
    }
    if (names.size === 0 && normal(path) !== "") throw notFound(path);
    return [...names].map(([name, isFile]) => ({ name, isFile, isDirectory: !isFile }));
  }
  openSync(path: string): SyncFile {
    const bytes = this.#get(path);
    return {
      size: () => bytes.length,
      readAt: (into, position) => {
        const part = bytes.subarray(position, position + into.length);
        into.set(part);
        return part.length;
      },
      close: () => {},
    };
  }
  cwd(): string {
    return "/";
  }
  notFound(e: unknown): boolean {
    return e instanceof NotFound;
  }
  denied(): boolean {
    return false;
  }
}

/** A path as the key of the map: no leading `/` or `./`, no empty or `.` parts. */
function normal(path: string): string {
  return path.split("/").filter((p) => p !== "" && p !== ".").join("/");
}

function notFound(path: string): NotFound {
  return new NotFound(`${path}: not found among the page's files (add your own with Add files)`);
}

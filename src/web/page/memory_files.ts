/**
 * The page's files: a folder tree in memory. The core's writers (the adapter folder, for one) write here,
 * and the page zips what they wrote for download; reading a path never written is "not found".
 */
import type { DirEntry, FileInfo, Files, SyncFile } from "../../host/files.ts";

class NotFound extends Error {
  override name = "NotFound";
}

/** Files kept in memory by path. */
export class MemoryFiles implements Files {
  readonly files = new Map<string, Uint8Array>();

  #get(path: string): Uint8Array {
    const bytes = this.files.get(path);
    if (!bytes) throw new NotFound(`${path}: not found (the page has only the files it wrote)`);
    return bytes;
  }

  /** The files under `dir`, by their path relative to it. */
  under(dir: string): Map<string, Uint8Array> {
    const prefix = dir.endsWith("/") ? dir : `${dir}/`;
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
    this.files.set(path, data.slice());
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
    const bytes = this.files.get(path);
    if (bytes) return { isFile: true, isDirectory: false, size: bytes.length, mtime: null };
    if (this.under(path).size > 0) return { isFile: false, isDirectory: true, size: 0, mtime: null };
    throw new NotFound(`${path}: not found (the page has only the files it wrote)`);
  }
  async *readDir(path: string): AsyncIterable<DirEntry> {
    const names = new Map<string, boolean>();
    for (const rest of this.under(path).keys()) {
      const cut = rest.indexOf("/");
      names.set(cut < 0 ? rest : rest.slice(0, cut), cut < 0);
    }
    for (const [name, isFile] of names) yield { name, isFile, isDirectory: !isFile };
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

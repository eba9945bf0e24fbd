/**
 * The reader's own files (JSONL, text, folders of text files), picked with the page's file and folder inputs
 * or dropped on it, added to the page's files under their names (a folder's files under `folder/...`), where
 * a pipeline's data sources read them: `source: { kind: jsonl, path: mine.jsonl }`.
 */
import type { MemoryFiles } from "./memory_files.ts";

/** A picked or dropped file, as the browser gives it (typed locally; see app.ts on the DOM library). */
interface BrowserFile {
  name: string;
  /** Path within a picked folder (`folder/sub/name.txt`); empty for a single file. */
  webkitRelativePath?: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** An entry of a dropped item (the File and Directory Entries API). */
interface Entry {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  fullPath: string;
  file?(ok: (f: BrowserFile) => void, fail: (e: unknown) => void): void;
  createReader?(): { readEntries(ok: (entries: Entry[]) => void, fail: (e: unknown) => void): void };
}

/** The files the reader added: path and SHA-256 of each, in the order added. */
export class OwnFiles {
  readonly added = new Map<string, string>();

  constructor(private readonly files: MemoryFiles) {}

  /** Adds picked files (a folder input's under their relative paths); returns the paths added. */
  async addPicked(list: ArrayLike<BrowserFile>): Promise<string[]> {
    const out: string[] = [];
    for (const f of Array.from(list)) out.push(await this.#add(f.webkitRelativePath || f.name, f));
    return out;
  }

  /** Adds dropped items (files, and folders with everything in them); returns the paths added. */
  async addDropped(items: ArrayLike<{ webkitGetAsEntry?(): Entry | null }>): Promise<string[]> {
    // every entry is taken before the first await: the browser empties the list once the event returns
    const entries = Array.from(items).map((i) => i.webkitGetAsEntry?.()).filter((e): e is Entry => !!e);
    const out: string[] = [];
    for (const e of entries) out.push(...await this.#addEntry(e));
    return out;
  }

  /**
   * A digest of every added file's path and contents: part of the key saved stages are kept under, so a
   * stage never goes on from a checkpoint trained on other data under the same names.
   */
  async digest(): Promise<string> {
    if (this.added.size === 0) return "";
    const text = [...this.added].sort(([a], [b]) => a < b ? -1 : 1).map(([p, h]) => `${h}  ${p}\n`).join("");
    return await sha256(new TextEncoder().encode(text));
  }

  async #add(path: string, f: BrowserFile): Promise<string> {
    const bytes = new Uint8Array(await f.arrayBuffer());
    await this.files.writeFile(path, bytes);
    const clean = path.split("/").filter((p) => p !== "" && p !== ".").join("/");
    this.added.set(clean, await sha256(bytes));
    return clean;
  }

  async #addEntry(e: Entry): Promise<string[]> {
    const path = e.fullPath.replace(/^\/+/, "") || e.name;
    if (e.isFile && e.file) {
      const f = await new Promise<BrowserFile>((ok, fail) => e.file!(ok, fail));
      return [await this.#add(path, f)];
    }
    if (!e.isDirectory || !e.createReader) return [];
    const reader = e.createReader();
    const out: string[] = [];
    // readEntries gives a folder's entries in batches, then an empty one
    while (true) {
      const batch = await new Promise<Entry[]>((ok, fail) => reader.readEntries(ok, fail));
      if (batch.length === 0) break;
      for (const child of batch) out.push(...await this.#addEntry(child));
    }
    return out;
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

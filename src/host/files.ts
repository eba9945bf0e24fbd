/**
 * The file system as the core sees it: a small interface that each host implements. Under Deno it is
 * Deno's own (deno.ts); a page installs its own with {@link useFiles}, or none, and then a pipeline that
 * names a file fails with a message saying so instead of a ReferenceError.
 */
import { denoFiles } from "./deno.ts";

/** What a stat of a path tells. */
export interface FileInfo {
  isFile: boolean;
  isDirectory: boolean;
  size: number;
  mtime: Date | null;
}

/** One entry of a folder listing. */
export interface DirEntry {
  name: string;
  isFile: boolean;
  isDirectory: boolean;
}

/** An open file read synchronously from a position (a safetensors header without reading the tensors). */
export interface SyncFile {
  size(): number;
  /** Reads up to `into.length` bytes at `position`; the number read (0 at the end). */
  readAt(into: Uint8Array, position: number): number;
  close(): void;
}

/** The operations the core's readers and writers use. */
export interface Files {
  readFile(path: string): Promise<Uint8Array>;
  readTextFile(path: string): Promise<string>;
  readFileSync(path: string): Uint8Array;
  readTextFileSync(path: string): string;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  writeTextFile(path: string, text: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  stat(path: string): Promise<FileInfo>;
  statSync(path: string): FileInfo;
  readDir(path: string): AsyncIterable<DirEntry>;
  readDirSync(path: string): DirEntry[];
  openSync(path: string): SyncFile;
  /** The folder relative paths start from. */
  cwd(): string;
  /** Whether `e` says the path does not exist. */
  notFound(e: unknown): boolean;
  /** Whether `e` says the host may not read or write the path. */
  denied(e: unknown): boolean;
}

class NoFilesError extends Error {
  override name = "NoFilesError";
}

/** A host without files: every call fails naming the path. */
const noFiles: Files = (() => {
  const fail = (path: string): never => {
    throw new NoFilesError(`${path}: this host has no file system (files are read only under Deno)`);
  };
  return {
    readFile: (p) => Promise.reject(new NoFilesError(`${p}: this host has no file system`)),
    readTextFile: (p) => Promise.reject(new NoFilesError(`${p}: this host has no file system`)),
    readFileSync: fail,
    readTextFileSync: fail,
    writeFile: (p) => Promise.reject(new NoFilesError(`${p}: this host has no file system`)),
    writeTextFile: (p) => Promise.reject(new NoFilesError(`${p}: this host has no file system`)),
    mkdir: (p) => Promise.reject(new NoFilesError(`${p}: this host has no file system`)),
    stat: (p) => Promise.reject(new NoFilesError(`${p}: this host has no file system`)),
    statSync: fail,
    readDir: fail,
    readDirSync: fail,
    openSync: fail,
    cwd: () => "/",
    notFound: (e) => e instanceof NoFilesError,
    denied: () => false,
  };
})();

let current: Files | undefined;

/** The host's files: the installed ones, else Deno's under Deno, else none. */
export function files(): Files {
  return current ??= "Deno" in globalThis ? denoFiles() : noFiles;
}

/** Installs a host's files (a page's, or a test's). */
export function useFiles(f: Files): void {
  current = f;
}

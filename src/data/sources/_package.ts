// Files of the npm packages mixtune imports itself, so Deno fetches them with the module graph (into its cache,
// or node_modules when the importing project has one); nothing is looked up in the current folder.

import { files } from "../../host/files.ts";
import { DataError } from "../errors.ts";

function isFile(path: string): boolean {
  try {
    return files().statSync(path).isFile;
  } catch {
    return false;
  }
}

function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

let folders: ((name: string) => string) | undefined;

/** Where a host without npm's folders keeps the packages' files (a page: where it put what it fetched). */
export function usePackageFolders(folder: (name: string) => string): void {
  folders = folder;
}

/** The folder of npm package `name`: the host's, else found above `main()` (see {@link packageDir}). */
export function packageFolder(name: string, main: () => string): string {
  return folders ? folders(name) : packageDir(name, main());
}

/**
 * The folder of npm package `name`, found above `main`, the file URL its main module resolved to
 * (`import.meta.resolve` of a specifier mixtune imports).
 */
export function packageDir(name: string, main: string): string {
  if (main.startsWith("file:")) {
    let dir = dirname(decodeURIComponent(new URL(main).pathname));
    while (dir !== "/") {
      const manifest = `${dir}/package.json`;
      if (isFile(manifest) && packageName(manifest) === name) return dir;
      dir = dirname(dir);
    }
  }
  throw new DataError(`cannot find the files of npm package "${name}" (its main module resolved to ${main})`);
}

function packageName(manifest: string): string | undefined {
  try {
    return JSON.parse(files().readTextFileSync(manifest)).name;
  } catch {
    return undefined;
  }
}

/** Reads a file as bytes, turning "not found" and permission problems into a DataError naming it. */
export function readBytes(path: string): Uint8Array {
  try {
    return files().readFileSync(path);
  } catch (e) {
    throw new DataError(`cannot read file (${(e as Error).message})`, { file: path });
  }
}

/** Decodes UTF-8 strictly; invalid bytes are a DataError naming the file. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new DataError("is not valid UTF-8 text", { file });
  }
}

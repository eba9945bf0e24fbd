// Finds the folder of an installed npm package so its data files can be read with read permission only.

import { DataError } from "../errors.ts";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function dirname(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

/**
 * The directory of npm package `name`: found from where the import map resolves it (deno.json imports),
 * else in ./node_modules; a DataError says how to install it when neither has it.
 */
export function packageDir(name: string): string {
  const tried: string[] = [];
  let resolved: string | null = null;
  try {
    resolved = import.meta.resolve(name);
  } catch {
    // not in the import map
  }
  if (resolved?.startsWith("file:")) {
    let dir = dirname(new URL(resolved).pathname);
    while (dir !== "/") {
      const manifest = `${dir}/package.json`;
      if (isFile(manifest) && packageName(manifest) === name) return dir;
      dir = dirname(dir);
    }
    tried.push(`the folders above ${new URL(resolved).pathname}`);
  }
  const local = `${Deno.cwd()}/node_modules/${name}`;
  if (isFile(`${local}/package.json`)) return local;
  tried.push(local);
  throw new DataError(
    `npm package "${name}" is not installed (looked in ${tried.join(" and ")}); add ` +
      `"${name}": "npm:${name}@<version>" to deno.json imports and run deno install`,
  );
}

function packageName(manifest: string): string | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(manifest)).name;
  } catch {
    return undefined;
  }
}

/** Reads a file as bytes, turning "not found" and permission problems into a DataError naming it. */
export function readBytes(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
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

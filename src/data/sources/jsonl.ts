/**
 * A JSONL file of documents: each line an object with a text field (or, pre-tokenized, an `ids` list of token
 * ids for the domain's tokenizer) and a domain field.
 */

import type { TextCorpus } from "../domain.ts";
import { DataError } from "../errors.ts";
import { decodeUtf8, readBytes } from "./_package.ts";

/** Field names of {@link loadJsonl}. */
export interface JsonlOptions {
  /** Field holding the document text (default "text"). */
  textField?: string;
  /** Field whose value names the document's domain (default "domain"). */
  domainField?: string;
}

/**
 * One corpus per distinct domain value, in order of first appearance; each line is one document. Blank
 * lines are skipped; a bad line is a DataError with its line number.
 */
export function loadJsonl(path: string, options: JsonlOptions = {}): TextCorpus[] {
  const textField = options.textField ?? "text";
  const domainField = options.domainField ?? "domain";
  const lines = decodeUtf8(readBytes(path), path).split("\n");
  const encoder = new TextEncoder();
  const corpora = new Map<string, (Uint8Array | Int32Array)[]>();
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0) return;
    const where = { file: path, line: i + 1 };
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DataError(`invalid JSON (${(e as Error).message})`, where);
    }
    if (typeof row !== "object" || row === null || Array.isArray(row)) {
      throw new DataError(
        `expected a JSON object, found ${Array.isArray(row) ? "an array" : JSON.stringify(row)}`,
        where,
      );
    }
    const record = row as Record<string, unknown>;
    const text = record[textField];
    const ids = record.ids;
    if (text === undefined && Array.isArray(ids)) {
      // pre-tokenized: the domain's tokenizer checks the ids against its vocabulary
      if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
        throw new DataError(`field "ids" must be a list of non-negative integers`, where);
      }
      const domain = record[domainField];
      if (typeof domain !== "string" || domain.length === 0) {
        throw new DataError(
          `field "${domainField}" must be a non-empty string, found ${describe(domain)}`,
          where,
        );
      }
      corpora.set(domain, [...(corpora.get(domain) ?? []), Int32Array.from(ids)]);
      return;
    }
    if (typeof text !== "string") {
      throw new DataError(`field "${textField}" must be a string, found ${describe(text)}`, where);
    }
    const domain = record[domainField];
    if (typeof domain !== "string" || domain.length === 0) {
      throw new DataError(
        `field "${domainField}" must be a non-empty string, found ${describe(domain)}`,
        where,
      );
    }
    const docs = corpora.get(domain) ?? [];
    docs.push(encoder.encode(text));
    corpora.set(domain, docs);
  });
  if (corpora.size === 0) throw new DataError("has no documents", { file: path });
  return [...corpora].map(([name, documents]) => ({ name, documents }));
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  return `${value === null ? "null" : typeof value} ${JSON.stringify(value)}`;
}

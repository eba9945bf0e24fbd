/**
 * JSON Lines (`.jsonl`, or gzipped `.jsonl.gz`), read as a stream: one record a line, each a document or a
 * supervised example (see `recordItem`). Blank lines are skipped; a bad line is a DataError with its number.
 */
import { DataError, type DataErrorOptions } from "../errors.ts";
import { decodeLine, readLineBytes } from "./_stream.ts";
import { describe, type Item, recordItem } from "./records.ts";

/** Which records of a JSONL or Parquet source are read, and where their text is. */
export interface RecordOptions {
  /** Field holding a document's text (default "text"). */
  textField?: string;
  /** Keep only the records whose `domainField` equals this; unset, every record is read. */
  domain?: string;
  /** Field naming a record's domain (default "domain"), read only when `domain` is set. */
  domainField?: string;
}

/** One record's item and where it is (file and line, or file and row). */
export interface Located {
  item: Item;
  where: DataErrorOptions;
}

/** Whether a parsed record belongs to the wanted domain; a record without a usable domain is a DataError. */
export function inDomain(row: unknown, options: RecordOptions, where: DataErrorOptions): boolean {
  if (options.domain === undefined) return true;
  const field = options.domainField ?? "domain";
  const value = typeof row === "object" && row !== null ? (row as Record<string, unknown>)[field] : undefined;
  if (typeof value !== "string" || value.length === 0) {
    throw new DataError(`field "${field}" must be a non-empty string, found ${describe(value)}`, where);
  }
  return value === options.domain;
}

/** The items of a JSONL file, in order, streamed. */
export async function* readJsonl(
  path: string,
  options: RecordOptions = {},
  onRead?: (bytes: number) => void,
): AsyncGenerator<Located> {
  for await (const l of readLineBytes(path, onRead)) {
    const where = { file: path, line: l.line };
    const line = decodeLine(path, l).trim();
    if (line.length === 0) continue;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new DataError(`invalid JSON (${(e as Error).message})`, where);
    }
    if (typeof row === "object" && row !== null && !Array.isArray(row) && !inDomain(row, options, where)) {
      continue;
    }
    yield { item: recordItem(row, where, options.textField), where };
  }
}

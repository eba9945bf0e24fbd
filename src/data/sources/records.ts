/**
 * What one record of a JSONL or Parquet source holds: a document (`text`, or pre-tokenized `ids`) or a
 * supervised example (chat `messages`, Alpaca `instruction`/`input`/`output`, `prompt`/`completion`).
 */
import { DataError, type DataErrorOptions } from "../errors.ts";

/** One turn of a conversation. */
export interface Message {
  role: string;
  content: string;
}

/** A record's content. */
export type Item =
  | { kind: "text"; text: string }
  | { kind: "ids"; ids: number[] }
  | { kind: "chat"; messages: Message[] }
  | { kind: "alpaca"; instruction: string; input: string; output: string }
  | { kind: "completion"; prompt: string | Message[]; completion: string | Message[] };

/** Whether an item is a supervised example (loss on its response only) rather than a document. */
export function isExample(item: Item): boolean {
  return item.kind === "chat" || item.kind === "alpaca" || item.kind === "completion";
}

const FORMATS = `"text" (or the source's textField), "ids", "messages", "instruction" and "output", or ` +
  `"prompt" and "completion"`;

/** The item of a parsed record; `textField` names the field of a document's text (default "text"). */
export function recordItem(row: unknown, where: DataErrorOptions, textField = "text"): Item {
  if (typeof row !== "object" || row === null || Array.isArray(row)) {
    throw new DataError(
      `expected a JSON object, found ${Array.isArray(row) ? "an array" : JSON.stringify(row)}`,
      where,
    );
  }
  const r = row as Record<string, unknown>;
  const has = (k: string): boolean => r[k] !== undefined && r[k] !== null;
  if (has(textField)) return { kind: "text", text: string(r, textField, where) };
  if (has("ids")) return { kind: "ids", ids: ids(r.ids, where) };
  if (has("messages")) return { kind: "chat", messages: messages(r.messages, "messages", where) };
  if (has("instruction") || has("output")) {
    return {
      kind: "alpaca",
      instruction: string(r, "instruction", where),
      input: has("input") ? string(r, "input", where) : "",
      output: string(r, "output", where),
    };
  }
  if (has("prompt") || has("completion")) {
    const side = (k: string): string | Message[] =>
      Array.isArray(r[k]) ? messages(r[k], k, where) : string(r, k, where);
    const prompt = side("prompt");
    const completion = side("completion");
    if (typeof prompt !== typeof completion) {
      throw new DataError(`"prompt" and "completion" must both be strings or both lists of messages`, where);
    }
    return { kind: "completion", prompt, completion };
  }
  const keys = Object.keys(r);
  throw new DataError(
    `expected a field ${FORMATS}, found ${keys.length === 0 ? "no fields" : `fields ${keys.join(", ")}`}`,
    where,
  );
}

function string(r: Record<string, unknown>, key: string, where: DataErrorOptions): string {
  const v = r[key];
  if (typeof v === "string") return v;
  throw new DataError(`field "${key}" must be a string, found ${describe(v)}`, where);
}

function ids(value: unknown, where: DataErrorOptions): number[] {
  if (!Array.isArray(value) && !ArrayBuffer.isView(value)) {
    throw new DataError(
      `field "ids" must be a list of non-negative integers, found ${describe(value)}`,
      where,
    );
  }
  const list = value as ArrayLike<unknown>;
  const out = new Array<number>(list.length);
  for (let i = 0; i < list.length; i++) {
    // Parquet int64 columns arrive as bigint
    const v = typeof list[i] === "bigint" ? Number(list[i]) : list[i];
    if (!(typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) {
      throw new DataError(
        `field "ids" must be a list of non-negative integers, found ${describe(list[i])} at ${i}`,
        where,
      );
    }
    out[i] = v;
  }
  return out;
}

function messages(value: unknown, key: string, where: DataErrorOptions): Message[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new DataError(
      `field "${key}" must be a non-empty list of {role, content}, found ${describe(value)}`,
      where,
    );
  }
  return value.map((m, i) => {
    const at = `${key}[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new DataError(`${at} must be an object {role, content}, found ${describe(m)}`, where);
    }
    const o = m as Record<string, unknown>;
    if (typeof o.role !== "string" || o.role === "") {
      throw new DataError(`${at}.role must be a non-empty string, found ${describe(o.role)}`, where);
    }
    if (typeof o.content !== "string") {
      throw new DataError(`${at}.content must be a string, found ${describe(o.content)}`, where);
    }
    return { role: o.role, content: o.content };
  });
}

/** A value for an error message, shortened. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (typeof value === "bigint") return `bigint ${value}`;
  let json = JSON.stringify(value) ?? String(value);
  if (json.length > 60) json = json.slice(0, 57) + "...";
  return `${value === null ? "null" : Array.isArray(value) ? "list" : typeof value} ${json}`;
}

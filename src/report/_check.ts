/** Small shape checks for run-folder JSON; each failure names the file and the field path. */
import { ReportInputError } from "./errors.ts";

type Json = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

/** Throws a ReportInputError saying what `where` should have held and what it held. */
export function fail(where: string, expected: string, value: unknown): never {
  throw new ReportInputError(`${where}: expected ${expected}, found ${describe(value)}`);
}

/** Returns `value` as a plain object or throws. */
export function object(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(where, "an object", value);
  return value as Json;
}

/** Returns `value` as an array or throws. */
export function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) fail(where, "an array", value);
  return value;
}

/** Returns `value` as a string or throws. */
export function string(value: unknown, where: string): string {
  if (typeof value !== "string") fail(where, "a string", value);
  return value;
}

/** Returns `value` as a finite number (or NaN, which losses can be) or throws. */
export function number(value: unknown, where: string): number {
  if (typeof value !== "number") fail(where, "a number", value);
  return value;
}

/** Returns `value` as a boolean or throws. */
export function boolean(value: unknown, where: string): boolean {
  if (typeof value !== "boolean") fail(where, "a boolean", value);
  return value;
}

/** Returns an array of strings or throws. */
export function strings(value: unknown, where: string): string[] {
  return array(value, where).map((item, i) => string(item, `${where}[${i}]`));
}

/** Returns an array of numbers or throws. */
export function numbers(value: unknown, where: string): number[] {
  return array(value, where).map((item, i) => number(item, `${where}[${i}]`));
}

/** Returns an object whose values are all numbers (`{"el": 0.3}`) or throws. */
export function numberRecord(value: unknown, where: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, item] of Object.entries(object(value, where))) out[key] = number(item, `${where}.${key}`);
  return out;
}

/** Applies `check` when `value` is present; absent optional fields stay undefined. */
export function optional<T>(value: unknown, check: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}

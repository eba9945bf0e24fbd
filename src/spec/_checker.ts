/** Typed readers over unknown values that record a problem, with its path, instead of throwing. */

import { messages } from "./messages.ts";
import { joinPath, type Problem } from "./problem.ts";

/** Bounds on a number: `min`/`max` inclusive, `above`/`below` exclusive. */
export interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
  above?: number;
  below?: number;
}

/** Reads `a number > 0`, `an integer >= 1`, `a number in (0, 1]` from a rule. */
export function describeNumber(rule: NumberRule): string {
  const noun = rule.integer ? "an integer" : "a number";
  const lo = rule.min !== undefined
    ? `[${rule.min}`
    : rule.above !== undefined
    ? `(${rule.above}`
    : undefined;
  const hi = rule.max !== undefined
    ? `${rule.max}]`
    : rule.below !== undefined
    ? `${rule.below})`
    : undefined;
  if (lo !== undefined && hi !== undefined) return `${noun} in ${lo}, ${hi}`;
  if (rule.min !== undefined) return `${noun} >= ${rule.min}`;
  if (rule.above !== undefined) return `${noun} > ${rule.above}`;
  if (rule.max !== undefined) return `${noun} <= ${rule.max}`;
  if (rule.below !== undefined) return `${noun} < ${rule.below}`;
  return noun;
}

function satisfies(x: number, rule: NumberRule): boolean {
  return Number.isFinite(x) && (!rule.integer || Number.isInteger(x)) &&
    (rule.min === undefined || x >= rule.min) && (rule.max === undefined || x <= rule.max) &&
    (rule.above === undefined || x > rule.above) && (rule.below === undefined || x < rule.below);
}

export const POSITIVE: NumberRule = { above: 0 };
export const NON_NEGATIVE: NumberRule = { min: 0 };
export const COUNT: NumberRule = { integer: true, min: 1 };
export const FRACTION: NumberRule = { above: 0, max: 1 };
export const OPEN_FRACTION: NumberRule = { above: 0, below: 1 };

/** Problems reported at most: a file of a million mistakes is told about its first hundred, quickly. */
export const MAX_PROBLEMS = 100;

/** Thrown by `Checker.add` past `MAX_PROBLEMS`; the caller reports what was found and stops. */
export class TooManyProblems extends Error {
  override name = "TooManyProblems";
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** Records problems while reading; every reader returns `undefined` when the value is missing or wrong. */
export class Checker {
  readonly problems: Problem[] = [];

  /** Records a problem; past `MAX_PROBLEMS` it stops the whole check by throwing `TooManyProblems`. */
  add(path: string, message: string): void {
    if (this.problems.length >= MAX_PROBLEMS) throw new TooManyProblems();
    this.problems.push({ path, message });
  }

  /** A plain object whose keys are all in `keys`; unknown keys are reported with a suggestion. */
  record(
    path: string,
    value: unknown,
    keys: readonly string[],
    required = true,
  ): Record<string, unknown> | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.add(path, messages.expected("an object", value));
      return undefined;
    }
    const fields = value as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!keys.includes(key)) this.add(joinPath(path, key), messages.unknownKey(key, keys));
    }
    return fields;
  }

  /** A plain object used as a map from names to values (domains, stages, weights): any key is allowed. */
  map(path: string, value: unknown, required = true): Record<string, unknown> | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.add(path, messages.expected("an object", value));
      return undefined;
    }
    return value as Record<string, unknown>;
  }

  /** A number within `rule` that float32 holds without overflow (nor underflow to 0), integers exactly. */
  number(path: string, value: unknown, rule: NumberRule, required = true): number | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "number" || !satisfies(value, rule)) {
      this.add(path, messages.expected(describeNumber(rule), value));
      return undefined;
    }
    if (rule.integer && !Number.isSafeInteger(value)) {
      this.add(path, messages.unsafeInteger(describeNumber(rule), value));
      return undefined;
    }
    const f = Math.fround(value);
    if (!Number.isFinite(f) || (f === 0 && value !== 0)) {
      this.add(path, messages.float32(describeNumber(rule), value));
      return undefined;
    }
    return value;
  }

  /** A non-empty string. */
  string(path: string, value: unknown, required = true): string | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "string" || value === "") {
      this.add(path, messages.expected("a non-empty string", value));
      return undefined;
    }
    return value;
  }

  /** A domain or stage name: a letter, then letters, digits, `_` or `-`. */
  name(path: string, value: string): boolean {
    if (NAME.test(value)) return true;
    this.add(path, messages.name(value));
    return false;
  }

  boolean(path: string, value: unknown, required = false): boolean | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "boolean") {
      this.add(path, messages.expected("true or false", value));
      return undefined;
    }
    return value;
  }

  oneOf<T extends string>(
    path: string,
    value: unknown,
    options: readonly T[],
    required = true,
  ): T | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "string" || !(options as readonly string[]).includes(value)) {
      this.add(path, messages.oneOf(options, value));
      return undefined;
    }
    return value as T;
  }

  array(path: string, value: unknown, required = true): unknown[] | undefined {
    if (value === undefined && !required) return undefined;
    if (!Array.isArray(value)) {
      this.add(path, messages.expected("an array", value));
      return undefined;
    }
    return value;
  }

  /** An object tagged by `kind`, whose other keys depend on the kind. */
  variant<K extends string>(
    path: string,
    value: unknown,
    shapes: Readonly<Record<K, readonly string[]>>,
    required = true,
    tag = "kind",
  ): { kind: K; fields: Record<string, unknown> } | undefined {
    if (value === undefined && !required) return undefined;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.add(path, messages.expected("an object", value));
      return undefined;
    }
    const fields = value as Record<string, unknown>;
    const kind = this.oneOf(joinPath(path, tag), fields[tag], Object.keys(shapes) as K[]);
    if (kind === undefined) return undefined;
    this.record(path, value, [tag, ...shapes[kind]]);
    return { kind, fields };
  }

  /** A non-empty array of distinct names from `known`, each reported by `unknown` when not found. */
  names(
    path: string,
    value: unknown,
    known: readonly string[],
    unknown: (name: string, known: readonly string[]) => string,
    what: string,
    allowEmpty = false,
  ): string[] | undefined {
    const list = this.array(path, value);
    if (list === undefined) return undefined;
    if (list.length === 0 && !allowEmpty) {
      this.add(path, messages.expected(`at least one ${what}`, list));
      return undefined;
    }
    const out: string[] = [];
    list.forEach((item, i) => {
      const itemPath = joinPath(path, i);
      if (typeof item !== "string") return this.add(itemPath, messages.expected(`a ${what} name`, item));
      if (out.includes(item)) return this.add(itemPath, messages.duplicate(`${what} names`, item));
      if (!known.includes(item)) return this.add(itemPath, unknown(item, known));
      out.push(item);
    });
    return out.length === list.length ? out : undefined;
  }
}

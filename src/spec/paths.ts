/** Spec paths as text (`stages.ft.adapters[0].rank`): parsing, reading, and writing one value into a copy. */

import { joinPath } from "./problem.ts";

/** One step of a path: an object key or an array index. */
export type PathSegment = string | number;

/**
 * The segments of a path written as `joinPath` writes them; undefined when it is not one.
 *
 * @example
 * ```ts
 * import { parsePath } from "./paths.ts";
 * console.log(parsePath('stages.ft.adapters[0]["my key"]')); // ["stages", "ft", "adapters", 0, "my key"]
 * ```
 */
export function parsePath(text: string): PathSegment[] | undefined {
  const out: PathSegment[] = [];
  const token = /^(?:\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;
  let rest = text;
  while (rest.length > 0) {
    const m = token.exec(rest);
    if (!m || (out.length === 0 && rest.startsWith("."))) return undefined;
    if (m[1] !== undefined) {
      if (out.length > 0 && !rest.startsWith(".")) return undefined;
      out.push(m[1]);
    } else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
    rest = rest.slice(m[0].length);
  }
  return out.length > 0 ? out : undefined;
}

/** The path's text, as problems print it. */
export function formatPath(segments: readonly PathSegment[]): string {
  return segments.reduce<string>((base, s) => joinPath(base, s), "");
}

/** The value at `segments`, or undefined when the path does not lead anywhere. */
export function readPath(value: unknown, segments: readonly PathSegment[]): unknown {
  let node = value;
  for (const s of segments) {
    if (node === null || typeof node !== "object") return undefined;
    if (Array.isArray(node) !== (typeof s === "number")) return undefined;
    node = (node as Record<string | number, unknown>)[s];
  }
  return node;
}

/** A deep copy of `value` with `segments` set to `replacement`; the parent of the path must exist. */
export function writePath(value: unknown, segments: readonly PathSegment[], replacement: unknown): unknown {
  const copy = structuredClone(value);
  const parent = readPath(copy, segments.slice(0, -1)) as Record<string | number, unknown>;
  parent[segments[segments.length - 1]] = structuredClone(replacement);
  return copy;
}

/** Every path that leads to a value in `value` (objects and arrays included), in document order. */
export function allPaths(value: unknown, base = ""): string[] {
  const out: string[] = [];
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      const p = joinPath(base, i);
      out.push(p, ...allPaths(v, p));
    });
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      const p = joinPath(base, k);
      out.push(p, ...allPaths(v, p));
    }
  }
  return out;
}

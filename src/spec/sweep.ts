/**
 * A sweep: named axes over spec paths (plus `seed`), combined as a grid (every combination) or zipped
 * (axes advance together). Each value is validated as if it were written at its path.
 */

import { closest, describe, messages } from "./messages.ts";
import { allPaths, formatPath, parsePath, writePath } from "./paths.ts";
import { joinPath, PipelineError, type Problem, type SourceLocation } from "./problem.ts";
import type { PipelineSpec } from "./types.ts";
import { checkPipeline, type SourceMap } from "./validate.ts";
import { checkResources, type JobResources } from "./_sweep_resources.ts";

export type { JobResources } from "./_sweep_resources.ts";

/** How a sweep combines its axes. */
export type SweepMode = "grid" | "zip";

/** The axes of a sweep: spec path (or `seed`) to the values it takes. */
export type SweepAxes = { seed?: number[] } & Record<string, readonly unknown[]>;

/** A sweep as a pipeline declares it. */
export interface SweepSpec {
  /** `grid` (default): every combination; `zip`: the i-th value of every axis together. */
  mode: SweepMode;
  /** Each axis: a spec path (or `seed`) and the values it takes. */
  axes: Record<string, unknown[]>;
  /** What each stage run's Slurm job asks for, by stage kind (`train`) or stage name (a name wins). */
  resources?: Record<string, JobResources>;
}

/**
 * `value` placed at `path` in a copy of a valid spec, and every problem that makes: the spec's own
 * messages at the spec's paths, or an unknown path with the closest valid ones.
 *
 * @example
 * ```ts
 * import { placeValue } from "./sweep.ts";
 * import type { PipelineSpec } from "./types.ts";
 * const base = { name: "x", seed: 1, domains: {}, model: {}, stages: {} } as unknown as PipelineSpec;
 * console.log(placeValue(base, "sed", 2).problems[0].message);
 * // unknown spec path "sed"; closest valid paths: seed, name, model
 * ```
 */
export function placeValue(base: PipelineSpec, path: string, value: unknown): {
  spec: unknown;
  problems: Problem[];
} {
  const segments = parsePath(path);
  if (segments === undefined) return { spec: base, problems: [{ path, message: messages.badPath(path) }] };
  const known = allPaths(base);
  const parent = formatPath(segments.slice(0, -1));
  const last = segments[segments.length - 1];
  const parentValue = segments.length === 1 ? base : readParent(base, segments);
  const fits = parentValue !== undefined &&
    (Array.isArray(parentValue)
      ? typeof last === "number" && last < parentValue.length
      : typeof last === "string");
  if (!fits || (parent !== "" && !known.includes(parent))) {
    return { spec: base, problems: [{ path, message: messages.unknownPath(path, closest(path, known, 3)) }] };
  }
  const spec = writePath(base, segments, value);
  const problems = checkPipeline(spec).map((p) =>
    p.path === formatPath(segments) && p.message.startsWith("unknown key")
      ? { path, message: messages.unknownPath(path, closest(path, known, 3)) }
      : p
  );
  return { spec, problems };
}

function readParent(base: PipelineSpec, segments: readonly (string | number)[]): unknown {
  let node: unknown = base;
  for (const s of segments.slice(0, -1)) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[s];
  }
  return node !== null && typeof node === "object" ? node : undefined;
}

/**
 * Checks a declared sweep against the valid spec it sweeps; returns the sweep with its defaults, or throws
 * a `PipelineError` listing every problem (a value's problem carries the value's position in the file).
 */
export function validateSweep(
  base: PipelineSpec,
  value: unknown,
  options: { locations?: SourceMap; file?: string } = {},
): SweepSpec {
  const problems: Problem[] = [];
  const at = (path: string): SourceLocation | undefined => {
    for (let p = path;; p = p.slice(0, Math.max(p.lastIndexOf("["), p.lastIndexOf("."), 0))) {
      const l = options.locations?.get(p);
      if (l !== undefined || p === "") return l;
    }
  };
  const add = (path: string, message: string, where = path): void => {
    problems.push({ path, message, ...at(where) });
  };
  const sweep = value as Partial<SweepSpec> | null;
  if (sweep === null || typeof sweep !== "object" || Array.isArray(sweep)) {
    add("sweep", messages.expected("an object with axes (and mode)", value));
    throw new PipelineError(problems, options.file);
  }
  for (const key of Object.keys(sweep)) {
    if (key !== "mode" && key !== "axes") {
      add(joinPath("sweep", key), messages.unknownKey(key, ["mode", "axes"]));
    }
  }
  const mode = sweep.mode ?? "grid";
  if (mode !== "grid" && mode !== "zip") add("sweep.mode", messages.oneOf(["grid", "zip"], mode));
  const axes = sweep.axes;
  if (axes === null || typeof axes !== "object" || Array.isArray(axes) || Object.keys(axes).length === 0) {
    add(
      "sweep.axes",
      messages.expected("an object of at least one axis: a spec path to a list of values", axes),
    );
    throw new PipelineError(problems, options.file);
  }
  for (const [path, values] of Object.entries(axes)) {
    const where = joinPath("sweep.axes", path);
    if (!Array.isArray(values) || values.length === 0) {
      add(where, messages.expected("a non-empty list of values", values));
      continue;
    }
    values.forEach((v, i) => {
      const placed = placeValue(base, path, v);
      for (const p of placed.problems) {
        // an unknown path is reported once, at the axis; a bad value at the value itself
        if (p.path === path && p.message.startsWith("unknown spec path")) {
          if (i === 0) add(where, p.message);
        } else add(p.path, p.message, joinPath(where, i));
      }
    });
  }
  if (sweep.resources !== undefined) {
    for (const p of checkResources(sweep.resources, base.stages)) add(p.path, p.message);
  }
  if (mode === "zip") {
    const lengths = Object.fromEntries(
      Object.entries(axes).map(([k, v]) => [k, Array.isArray(v) ? v.length : 0]),
    );
    if (new Set(Object.values(lengths)).size > 1) add("sweep.axes", messages.zipLengths(lengths));
  }
  if (problems.length > 0) {
    const sorted = options.locations
      ? problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
      : problems;
    throw new PipelineError(sorted, options.file);
  }
  const out: SweepSpec = { mode, axes: structuredClone(axes as Record<string, unknown[]>) };
  if (sweep.resources !== undefined) out.resources = structuredClone(sweep.resources);
  return out;
}

/**
 * Applies `--set PATH=VALUE` overrides (VALUE is read as YAML: `5e-4`, `[a, b]`, `text`) to a valid spec;
 * throws a `PipelineError` whose problems name the override.
 */
export function applySets(
  base: PipelineSpec,
  sets: readonly string[],
  parse: (text: string) => unknown,
): PipelineSpec {
  let spec = base;
  for (const set of sets) {
    const eq = set.indexOf("=");
    if (eq <= 0) throw new PipelineError([{ path: "--set", message: messages.setSyntax(set) }]);
    const path = set.slice(0, eq);
    const placed = placeValue(spec, path, parse(set.slice(eq + 1)));
    if (placed.problems.length > 0) throw new PipelineError(placed.problems, `--set ${set}`);
    spec = placed.spec as PipelineSpec;
  }
  return spec;
}

/** How a swept value reads in a variant's name: `5e-4`, `8`, `cosine`. */
export function formatValue(value: unknown): string {
  if (typeof value === "number") {
    const plain = String(value);
    if (Number.isInteger(value) && Math.abs(value) < 1e5) return plain;
    const exp = value.toExponential().replace("e+", "e");
    return exp.length < plain.length ? exp : plain; // 5e-4, but 0.01 and 0.5
  }
  if (typeof value === "string") return value;
  return JSON.stringify(value) ?? describe(value);
}

/** LoRA placement: which linear layers get which adapter, with every scale and option resolved. */

import type { LinearModule } from "../models/config.ts";
import { closestNames, compilePattern, editDistance, type PathMatcher, PatternError } from "./patterns.ts";

/**
 * How the LoRA branch output is scaled.
 * - a number: the plain multiplier `s` (PETALface uses 1);
 * - `{ alpha }`: PEFT's default `s = alpha / r`;
 * - `{ alpha, rslora: true }`: rank-stabilised LoRA, `s = alpha / sqrt(r)`.
 */
export type LoraScale = number | { alpha: number; rslora?: boolean };

/** How the down matrix A is initialised (B always starts at zero); see `init.ts`. */
export type LoraInit = "gaussian" | "kaiming";

/** One adapter as a pipeline writes it. */
export interface AdapterSpec {
  /** One pattern or several; a module matched by any of them gets this adapter. */
  targets: string | string[];
  rank: number;
  /** Defaults to the plain multiplier 1. */
  scale?: LoraScale;
  /** Dropout on the LoRA branch input; defaults to 0. */
  dropout?: number;
  /** Defaults to "kaiming" (PEFT's default); PETALface uses "gaussian". */
  init?: LoraInit;
  /** Two quality-weighted branches (PETALface) instead of one. */
  gated?: boolean;
}

/** An adapter resolved onto one linear layer. */
export interface Placement {
  path: string;
  in: number;
  out: number;
  /** Index of the adapter in the list given to `placeAdapters`. */
  adapter: number;
  rank: number;
  /** The resolved multiplier `s` of the LoRA branch. */
  scale: number;
  gated: boolean;
  dropout: number;
  init: LoraInit;
}

/** A problem with one adapter or one pattern. */
export interface PlacementProblem {
  /** Index of the adapter. */
  index: number;
  /** The pattern concerned (for option problems, the adapter's patterns joined by ", "). */
  pattern: string;
  /** Which field of the adapter is wrong. */
  field: "targets" | "rank" | "scale" | "dropout" | "init";
  message: string;
}

/** Result of `placeAdapters`: the placements in module order, and every problem found. */
export interface PlacementResult {
  placements: Placement[];
  problems: PlacementProblem[];
}

/** The multiplier `s` for a rank: `s`, `alpha / r`, or `alpha / sqrt(r)`. */
export function resolveScale(scale: LoraScale | undefined, rank: number): number {
  if (scale === undefined) return 1;
  if (typeof scale === "number") return scale;
  return scale.rslora ? scale.alpha / Math.sqrt(rank) : scale.alpha / rank;
}

/** Lists the adapter's patterns, whether given as one string or an array. */
export function targetList(targets: string | string[]): string[] {
  return typeof targets === "string" ? [targets] : targets;
}

/**
 * Places adapters on linear layers. Every pattern must match at least one module and no module may be
 * matched by two adapters; the problems say which pattern failed, with the nearest module paths.
 *
 * @example
 * ```ts
 * const { placements } = placeAdapters(
 *   [{ targets: ["blocks.*.attn.qkv", "feature"], rank: 8, gated: true }],
 *   [{ path: "blocks.0.attn.qkv", in: 64, out: 192, bias: true }, { path: "feature", in: 64, out: 32, bias: true }],
 * );
 * console.log(placements.map((p) => p.path)); // ["blocks.0.attn.qkv", "feature"]
 * ```
 */
export function placeAdapters(adapters: AdapterSpec[], modules: LinearModule[]): PlacementResult {
  const problems: PlacementProblem[] = [];
  const paths = modules.map((m) => m.path);
  // owner per module: the first adapter (and its pattern) that matched it
  const owners = new Map<string, { adapter: number; pattern: string }>();
  const placements: Placement[] = [];

  adapters.forEach((adapter, index) => {
    const patterns = targetList(adapter.targets);
    problems.push(...optionProblems(adapter, index, patterns.join(", ")));
    if (patterns.length === 0) {
      problems.push({
        index,
        pattern: "",
        field: "targets",
        message: "targets is empty: give at least one pattern",
      });
    }
    for (const pattern of patterns) {
      const matcher = compileOrReport(pattern, index, problems);
      if (!matcher) continue;
      const matched = modules.filter((m) => matcher.test(m.path));
      if (matched.length === 0) {
        problems.push({ index, pattern, field: "targets", message: noMatchMessage(pattern, paths) });
      }
      for (const module of matched) {
        const owner = owners.get(module.path);
        if (owner === undefined) {
          owners.set(module.path, { adapter: index, pattern });
          placements.push(resolvePlacement(module, adapter, index));
        } else if (owner.adapter !== index) {
          problems.push({
            index,
            pattern,
            field: "targets",
            message:
              `module "${module.path}" is matched by adapters[${owner.adapter}] ("${owner.pattern}") ` +
              `and adapters[${index}] ("${pattern}")`,
          });
        }
      }
    }
  });
  const order = new Map(paths.map((p, i) => [p, i]));
  placements.sort((a, b) => order.get(a.path)! - order.get(b.path)!);
  return { placements, problems };
}

function resolvePlacement(module: LinearModule, adapter: AdapterSpec, index: number): Placement {
  return {
    path: module.path,
    in: module.in,
    out: module.out,
    adapter: index,
    rank: adapter.rank,
    scale: resolveScale(adapter.scale, adapter.rank),
    gated: adapter.gated ?? false,
    dropout: adapter.dropout ?? 0,
    init: adapter.init ?? "kaiming",
  };
}

function optionProblems(adapter: AdapterSpec, index: number, pattern: string): PlacementProblem[] {
  const problems: PlacementProblem[] = [];
  const add = (field: PlacementProblem["field"], message: string): void => {
    problems.push({ index, pattern, field, message });
  };
  if (!Number.isInteger(adapter.rank) || adapter.rank < 1) {
    add("rank", `rank must be a positive integer, found ${adapter.rank}`);
  }
  const scale = adapter.scale;
  const multiplier = typeof scale === "object" ? scale.alpha : scale;
  if (multiplier !== undefined && !(Number.isFinite(multiplier) && multiplier > 0)) {
    add(
      "scale",
      `scale ${typeof scale === "object" ? "alpha " : ""}must be a positive number, found ${multiplier}`,
    );
  }
  const dropout = adapter.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) add("dropout", `dropout must be in [0, 1), found ${dropout}`);
  const init = adapter.init ?? "kaiming";
  if (init !== "gaussian" && init !== "kaiming") {
    add("init", `init must be "gaussian" or "kaiming", found "${init}"`);
  }
  return problems;
}

/**
 * A plain module name (letters, digits, `_` and dots, no glob or regex) also matches as a suffix at a dot,
 * as a name in PEFT's `target_modules` list does: `query` places LoRA on every `...attention.query`.
 */
function compileOrReport(pattern: string, index: number, problems: PlacementProblem[]): PathMatcher | null {
  if (/^\w+(\.\w+)*$/.test(pattern)) {
    return { source: pattern, test: (path) => path === pattern || path.endsWith(`.${pattern}`) };
  }
  try {
    return compilePattern(pattern);
  } catch (e) {
    if (!(e instanceof PatternError)) throw e;
    problems.push({ index, pattern, field: "targets", message: e.message });
    return null;
  }
}

function noMatchMessage(pattern: string, names: readonly string[]): string {
  const closest = closestNames(pattern, names);
  const what = names.length === 0 ? "there are none" : `closest: ${closest.join(", ")}`;
  return `pattern "${pattern}" matches no module; ${what}`;
}

/** Result of `selectParameters`: the selected names in the order given, and patterns that matched none. */
export interface SelectionResult {
  selected: string[];
  problems: { index: number; pattern: string; message: string }[];
}

/**
 * Selects parameters to train by pattern ("train only these modules"). A pattern selects a parameter when it
 * matches the parameter's full name or one of its module prefixes: `head` selects `head.weight`, `*` and
 * `**` select everything (full fine-tuning), `blocks.{2..3}` selects every parameter of blocks 2 and 3.
 */
export function selectParameters(patterns: string[], names: string[]): SelectionResult {
  const problems: SelectionResult["problems"] = [];
  const chosen = new Set<string>();
  patterns.forEach((pattern, index) => {
    let matcher: PathMatcher;
    try {
      matcher = compilePattern(pattern);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      problems.push({ index, pattern, message: e.message });
      return;
    }
    const matched = names.filter((name) => prefixes(name).some((p) => matcher.test(p)));
    if (matched.length === 0) {
      // nearest by module prefix too, so "haed" points at "head.weight"
      const closest = closestNames(pattern, names, 3, prefixDistance);
      const what = names.length === 0 ? "there are none" : `closest: ${closest.join(", ")}`;
      problems.push({ index, pattern, message: `pattern "${pattern}" matches no parameter; ${what}` });
    }
    for (const name of matched) chosen.add(name);
  });
  return { selected: names.filter((n) => chosen.has(n)), problems };
}

function prefixDistance(pattern: string, name: string): number {
  return Math.min(...prefixes(name).map((p) => editDistance(pattern, p)));
}

/** `a.b.c` -> `a`, `a.b`, `a.b.c`. */
function prefixes(name: string): string[] {
  const parts = name.split(".");
  return parts.map((_, i) => parts.slice(0, i + 1).join("."));
}

/** Trainable adapter parameters: the sum of `r * (in + out)`, doubled for gated (two-branch) placements. */
export function countAdapterParams(placements: readonly Placement[]): number {
  return placements.reduce((sum, p) => sum + p.rank * (p.in + p.out) * (p.gated ? 2 : 1), 0);
}

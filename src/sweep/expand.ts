/** A sweep's variants: one complete, validated pipeline per combination of axis values, named by them. */

import { hashSpec } from "../spec/hash.ts";
import { parsePath, writePath } from "../spec/paths.ts";
import { formatValue, type SweepSpec } from "../spec/sweep.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { validatePipeline } from "../spec/validate.ts";

/** One pipeline of a sweep. */
export interface Variant {
  /** `lr=5e-4,rank=8,seed=2`: the axes' short names and values, seed last. */
  name: string;
  /** The name without the seed: the group its seeds are averaged over. */
  group: string;
  /** Axis path to this variant's value. */
  values: Record<string, unknown>;
  spec: PipelineSpec;
  /** Hash of the variant's whole spec. */
  hash: string;
}

/**
 * Every variant of a sweep, in order (grid: the first axis varies slowest).
 *
 * @example
 * ```ts
 * import { axisNames } from "./expand.ts";
 * console.log(axisNames(["seed", "stages.ft.optimizer.lr", "stages.ft.adapters[0].rank"]));
 * // { seed: "seed", "stages.ft.optimizer.lr": "lr", "stages.ft.adapters[0].rank": "rank" }
 * ```
 */
export async function expandSweep(base: PipelineSpec, sweep: SweepSpec): Promise<Variant[]> {
  const paths = Object.keys(sweep.axes);
  const short = axisNames(paths);
  const ordered = [...paths.filter((p) => p !== "seed"), ...paths.filter((p) => p === "seed")];
  const combos: Record<string, unknown>[] = [];
  if (sweep.mode === "zip") {
    const n = sweep.axes[paths[0]].length;
    for (let i = 0; i < n; i++) combos.push(Object.fromEntries(paths.map((p) => [p, sweep.axes[p][i]])));
  } else {
    const walk = (k: number, acc: Record<string, unknown>): void => {
      if (k === paths.length) return void combos.push(acc);
      for (const v of sweep.axes[paths[k]]) walk(k + 1, { ...acc, [paths[k]]: v });
    };
    walk(0, {});
  }
  const out: Variant[] = [];
  for (const values of combos) {
    let spec: unknown = base;
    for (const [p, v] of Object.entries(values)) spec = writePath(spec, parsePath(p)!, v);
    const name = ordered.map((p) => `${short[p]}=${formatValue(values[p])}`).join(",");
    const group = ordered.filter((p) => p !== "seed").map((p) => `${short[p]}=${formatValue(values[p])}`)
      .join(",");
    let valid: PipelineSpec;
    try {
      valid = validatePipeline(spec);
    } catch (e) {
      throw new Error(`variant ${name}: ${(e as Error).message}`);
    }
    out.push({ name, group: group || "(all)", values, spec: valid, hash: await hashSpec(valid) });
  }
  const seen = new Set<string>();
  for (const v of out) {
    if (seen.has(v.name)) {
      throw new Error(`two variants are both named ${v.name}; give the axes distinct values`);
    }
    seen.add(v.name);
  }
  return out;
}

/** Short names for axes: the last key of each path, or the whole path where two would clash. */
export function axisNames(paths: readonly string[]): Record<string, string> {
  const last = (p: string): string => {
    const keys = (parsePath(p) ?? [p]).filter((s) => typeof s === "string");
    return (keys[keys.length - 1] as string | undefined) ?? p;
  };
  const counts = new Map<string, number>();
  for (const p of paths) counts.set(last(p), (counts.get(last(p)) ?? 0) + 1);
  return Object.fromEntries(paths.map((p) => [p, counts.get(last(p))! > 1 ? p : last(p)]));
}

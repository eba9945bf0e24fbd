/** A sweep's stage runs: every variant's stages, deduplicated by the stage hashes the cache uses. */

import { stageHash, stageOrder } from "../spec/hash.ts";
import type { SweepSpec } from "../spec/sweep.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { VERSION } from "../version.ts";
import { expandSweep, type Variant } from "./expand.ts";

/** One stage run: a stage name and hash, run once for every variant that has it. */
export interface StageRun {
  /** `pretrain-1a2b3c4d`: also the stage's folder under `runs/<pipeline>/`. */
  id: string;
  stage: string;
  kind: string;
  hash: string;
  /** Ids of the stage runs this one needs first. */
  after: string[];
  /** Names of the variants that share it; the first one runs it. */
  variants: string[];
}

/** What a sweep will run. */
export interface SweepPlan {
  name: string;
  mode: SweepSpec["mode"];
  axes: Record<string, unknown[]>;
  variants: {
    name: string;
    group: string;
    hash: string;
    values: Record<string, unknown>;
    stages: string[];
  }[];
  /** Unique stage runs in an order that respects `after`. */
  stageRuns: StageRun[];
  /** Stage runs if every variant ran alone, and how many the sharing saves. */
  naive: number;
  saved: number;
}

/** Expands a sweep and deduplicates its stages; returns the plan and the variants' specs. */
export async function planSweep(
  base: PipelineSpec,
  sweep: SweepSpec,
): Promise<{ plan: SweepPlan; variants: Variant[] }> {
  const variants = await expandSweep(base, sweep);
  const runs = new Map<string, StageRun>();
  const planned: SweepPlan["variants"] = [];
  let naive = 0;
  for (const v of variants) {
    const ids = new Map<string, string>();
    for (const step of stageOrder(v.spec)) {
      const hash = await stageHash(v.spec, step.name, VERSION);
      const id = `${step.name}-${hash.slice(0, 8)}`;
      ids.set(step.name, id);
      naive++;
      const run = runs.get(id);
      if (run) run.variants.push(v.name);
      else {
        const after = step.dependsOn.map((d) => ids.get(d)!);
        runs.set(id, { id, stage: step.name, kind: step.kind, hash, after, variants: [v.name] });
      }
    }
    planned.push({ name: v.name, group: v.group, hash: v.hash, values: v.values, stages: [...ids.values()] });
  }
  const stageRuns = [...runs.values()];
  return {
    plan: {
      name: base.name,
      mode: sweep.mode,
      axes: sweep.axes,
      variants: planned,
      stageRuns,
      naive,
      saved: naive - stageRuns.length,
    },
    variants,
  };
}

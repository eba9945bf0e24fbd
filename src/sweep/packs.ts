/**
 * Which of a sweep's train stage runs the local executor trains together in one packed step: runs that
 * start from the same stage run (the same frozen base) and pass `incompatibility()`, at most `limit` per
 * pack. Everything else runs alone, as before.
 */
import type { StepMemory } from "../compile/train_step.ts";
import { incompatibility, planPacked, type StageRef } from "../run/packed_compat.ts";
import type { PipelineSpec } from "../spec/types.ts";
import type { SweepPlan } from "./plan.ts";

/** Stage runs trained in one process by one packed step. */
export interface PackPlan {
  /** `pack-1`, `pack-2`, ...: the name in progress lines and logs. */
  id: string;
  /** The stage runs it trains, in plan order (the first one's stage run is the frozen base's user). */
  stageRuns: string[];
  /** The variants whose stage runs these are. */
  variants: string[];
  /** GPU memory of the packed step (planned, no device needed). */
  memory: StepMemory;
}

/** The packs of a sweep, and the processes the local executor then starts for its stage runs. */
export interface PackingPlan {
  /** Most stage runs per pack (1: no packing). */
  limit: number;
  packs: PackPlan[];
  /** Adapter-training stage runs that run alone, and why. */
  alone: { stageRun: string; why: string }[];
  /** Stage runs still to run, and the processes they take (a pack is one process). */
  toRun: number;
  processes: number;
}

/** Groups the stage runs not in `done` into packs of at most `limit` (no packs when `limit` is 1). */
export function planPacks(
  plan: SweepPlan,
  specs: ReadonlyMap<string, PipelineSpec>,
  limit: number,
  done: ReadonlySet<string>,
): PackingPlan {
  const groups: { after: string; refs: StageRef[]; ids: string[]; variants: string[] }[] = [];
  const todo = plan.stageRuns.filter((r) => !done.has(r.id));
  for (const r of todo) {
    const spec = specs.get(r.variants[0])!;
    const stage = spec.stages[r.stage];
    // packs are for adapter fine-tuning; a stage that starts from a folder outside the sweep loads
    // adapters a pack cannot take
    if (limit < 2 || stage.kind !== "train" || !stage.adapters?.length || typeof stage.from === "object") {
      continue;
    }
    const ref = { spec, name: r.stage };
    const after = r.after.join(" ");
    const fits = groups.find((g) =>
      g.after === after && g.ids.length < limit && incompatibility(g.refs[0], ref) === undefined
    );
    if (fits) {
      fits.refs.push(ref);
      fits.ids.push(r.id);
      fits.variants.push(...r.variants);
    } else groups.push({ after, refs: [ref], ids: [r.id], variants: [...r.variants] });
  }
  const packs = groups.filter((g) => g.ids.length > 1).map((g, i) => ({
    id: `pack-${i + 1}`,
    stageRuns: g.ids,
    variants: g.variants,
    memory: planPacked(g.refs).memory,
  }));
  const alone = groups.filter((g) => g.ids.length === 1).map((g) => ({
    stageRun: g.ids[0],
    // compared with itself, a stage says only what keeps it out of any pack
    why: incompatibility(g.refs[0], g.refs[0]) ?? "no compatible stage run starts from the same stage run",
  }));
  const packed = packs.reduce((n, p) => n + p.stageRuns.length, 0);
  return { limit, packs, alone, toRun: todo.length, processes: todo.length - packed + packs.length };
}

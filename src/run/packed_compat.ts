/**
 * Which train stages can share one packed step, and the plan of a pack (memory, kernels) without a device.
 * A pack shares the frozen backbone and every shape; variants differ in seed (adapter init, data order),
 * data mix strategy, learning rate and its schedule, clipping, weight decay, adapter rank and scale.
 */
import { planStep, type StepMemory } from "../compile/train_step.ts";
import { buildModel, type BuildOptions, type LossKind } from "../models/graph.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import { stagePlacements, stageTrainable } from "../compile/stage_setup.ts";

/** One variant: train stage `name` of its own pipeline spec. */
export interface StageRef {
  spec: PipelineSpec;
  name: string;
}

/** Base parameters a variant may train besides its adapters (stacked per variant in the pack). */
const PER_VARIANT_BASE = new Set(["head.weight"]);

function trainStage(r: StageRef): TrainStage {
  const s = r.spec.stages[r.name];
  if (!s || s.kind !== "train") throw new Error(`${r.spec.name}: stages.${r.name} is not a train stage`);
  return s;
}

const json = (x: unknown) => JSON.stringify(x ?? null);

/** Why `a` and `b` cannot be packed together (the first reason found), or undefined when they can. */
export function incompatibility(a: StageRef, b: StageRef): string | undefined {
  for (const r of [a, b]) {
    const why = packable(r);
    if (why) return `${r.spec.name} stages.${r.name}: ${why}`;
  }
  const sa = trainStage(a);
  const sb = trainStage(b);
  const at = `${a.spec.name} stages.${a.name} and ${b.spec.name} stages.${b.name}`;
  const same: [string, unknown, unknown][] = [
    ["model", a.spec.model, b.spec.model],
    ["batch", sa.batch, sb.batch],
    ["steps", sa.steps, sb.steps],
    ["loss", sa.loss, sb.loss],
    ["mix.domains", sa.mix.domains, sb.mix.domains],
    ["optimizer.betas", sa.optimizer.betas, sb.optimizer.betas],
    ["optimizer.eps", sa.optimizer.eps, sb.optimizer.eps],
    ["logEvery", sa.logEvery, sb.logEvery],
    ["evalEvery", sa.evalEvery, sb.evalEvery],
    ["from", sa.from, sb.from],
    ["trainable", [...stageTrainable(a.name, sa, a.spec.model)], [
      ...stageTrainable(b.name, sb, b.spec.model),
    ]],
    ["adapter modules", modules(a), modules(b)],
    ["LoRA dropout", sa.adapters?.map((x) => x.dropout ?? 0), sb.adapters?.map((x) => x.dropout ?? 0)],
  ];
  for (const [what, x, y] of same) {
    if (json(x) !== json(y)) return `${at} differ in ${what}: ${json(x)} vs ${json(y)}`;
  }
  // Without `from`, the frozen backbone is the seed's initialisation: another seed is another backbone.
  if (!sa.from && a.spec.seed !== b.spec.seed) {
    return `${at} train from scratch with seeds ${a.spec.seed} and ${b.spec.seed}: their frozen backbones differ`;
  }
  return undefined;
}

/** Whether `a` and `b` can train in one packed step (see `incompatibility` for the reason when not). */
export function compatible(a: StageRef, b: StageRef): boolean {
  return incompatibility(a, b) === undefined;
}

/** What keeps one stage out of any pack, or undefined. */
function packable(r: StageRef): string | undefined {
  if (r.spec.model.backbone === "pretrained") {
    return "reads a pretrained checkpoint, which packed steps do not build";
  }
  const s = trainStage(r);
  const extra = [...stageTrainable(r.name, s, r.spec.model)].filter((n) => !PER_VARIANT_BASE.has(n));
  if (extra.length) return `trains base parameters ${extra.join(", ")}: a pack shares a frozen backbone`;
  if (!(s.adapters?.length)) return "has no adapters";
  if ((s.checkpointEvery ?? s.steps) < s.steps) return "checkpoints mid-run, which packed runs do not do";
  if (s.frozenDtype !== undefined && s.frozenDtype !== "f32") {
    const as = s.frozenDtype === "stored" ? "as stored" : `in ${s.frozenDtype}`;
    return `keeps frozen weights ${as}, which packed runs do not do`;
  }
  if ((s.accumulate ?? 1) > 1) return "accumulates gradients over micro-batches, which packed runs do not do";
  if (s.recompute === true) return "recomputes activations, which packed runs do not do";
  return undefined;
}

function modules(r: StageRef): string[] {
  return stagePlacements(r.name, trainStage(r), r.spec.model).map((p) =>
    `${p.path}${p.gated ? " (gated)" : ""}`
  );
}

/** The build options of each variant (no data needed: the gate only changes input values). */
export function variantBuilds(refs: readonly StageRef[], training: boolean): BuildOptions[] {
  return refs.map((r) => {
    const s = trainStage(r);
    const trainable = stageTrainable(r.name, s, r.spec.model);
    const lora = stagePlacements(r.name, s, r.spec.model).map((p) => ({
      path: p.path,
      rank: p.rank,
      scale: p.scale,
      gated: p.gated,
      dropout: p.dropout,
    }));
    return {
      batch: s.batch,
      domains: s.mix.domains.length,
      loss: s.loss as LossKind,
      lora,
      trainable: (n: string) => trainable.has(n),
      training,
    };
  });
}

/** Checks every variant against the first; throws one line per incompatible variant. */
export function checkPack(refs: readonly StageRef[]): void {
  if (refs.length === 0) throw new Error("a pack needs at least one variant");
  const problems = refs.slice(1).map((r) => incompatibility(refs[0], r) ?? packable(r)).filter((p) => p);
  const own = packable(refs[0]);
  if (own) problems.unshift(`${refs[0].spec.name} stages.${refs[0].name}: ${own}`);
  if (problems.length) throw new Error(`cannot pack these variants:\n${problems.join("\n")}`);
}

/** GPU memory and kernel dispatches of one packed step of `refs`, planned without a device. */
export function planPacked(
  refs: readonly StageRef[],
): { variants: number; memory: StepMemory; kernels: string[] } {
  checkPack(refs);
  const builds = variantBuilds(refs, true);
  const s = trainStage(refs[0]);
  const graph = buildModel(refs[0].spec.model, { ...builds[0], variants: builds.map((b) => b.lora!) });
  const { memory, kernels } = planStep(graph, s.optimizer.clip ?? 0);
  return { variants: refs.length, memory, kernels };
}

/** A sweep's plan as a researcher reads it. */
import { bytes, table } from "../cli/format.ts";
import type { PackingPlan } from "./packs.ts";
import type { SweepPlan } from "./plan.ts";

/**
 * Variants, unique stage runs (with whether each is already in the cache), the runs saved by sharing and,
 * for the local executor, the packs and the processes the sweep then takes.
 */
export function formatSweepPlan(plan: SweepPlan, done: ReadonlySet<string>, packing?: PackingPlan): string {
  const axes = Object.entries(plan.axes).map(([k, v]) => `${k} (${v.length})`).join(
    plan.mode === "zip" ? " with " : " x ",
  );
  const out = [
    `sweep ${plan.name}: ${plan.variants.length} variants, ${plan.mode} over ${axes}`,
    "",
    table(
      "variants",
      ["variant", "spec", "stage runs"],
      plan.variants.map((v) => [v.name, v.hash.slice(0, 8), v.stages.join(" ")]),
    ),
    "",
    table(
      `unique stage runs: ${plan.stageRuns.length} of ${plan.naive} (sharing saves ${plan.saved}); ` +
        `${plan.stageRuns.filter((r) => done.has(r.id)).length} already done`,
      ["stage run", "kind", "after", "shared by", "state"],
      plan.stageRuns.map((r) => [
        r.id,
        r.kind,
        r.after.join(" ") || "-",
        r.variants.length === 1 ? r.variants[0] : `${r.variants.length} variants`,
        done.has(r.id) ? "done" : "to run",
      ]),
    ),
  ];
  if (packing) out.push("", formatPacking(packing));
  return out.join("\n");
}

function formatPacking(p: PackingPlan): string {
  const head = `packs (at most ${p.limit} stage runs each): ${p.packs.length}; ` +
    `${p.toRun} stage runs to run in ${p.processes} processes`;
  const lines = p.packs.length === 0 ? [head] : [table(
    head,
    ["pack", "stage runs", "variants", "memory"],
    p.packs.map((k) => [k.id, k.stageRuns.join(" "), k.variants.join(" "), bytes(k.memory.total)]),
  )];
  for (const a of p.alone) lines.push(`${a.stageRun} runs alone: ${a.why}`);
  return lines.join("\n");
}

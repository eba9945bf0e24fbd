/** A sweep's plan as a researcher reads it. */
import { table } from "../cli/format.ts";
import type { SweepPlan } from "./plan.ts";

/** Variants, unique stage runs (with whether each is already in the cache) and the runs saved by sharing. */
export function formatSweepPlan(plan: SweepPlan, done: ReadonlySet<string>): string {
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
  return out.join("\n");
}

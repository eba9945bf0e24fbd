import assert from "node:assert/strict";
import { join } from "node:path";
import { aggregateSweep, type MetricTable } from "../src/sweep/aggregate.ts";
import { sweepFolders } from "../src/sweep/folders.ts";
import type { SweepPlan } from "../src/sweep/plan.ts";
import { removeOut, tempOut } from "./fixtures/helpers.ts";

// Two seeds of one train stage, written by hand: a validation curve per domain and the final summary.
const curves: Record<string, Record<string, number[]>> = {
  // vi turns upward after step 20 in seed 1 and after step 10 in seed 2; el only goes down
  "seed=1": { el: [2.5, 2.25, 2, 1.75], vi: [3, 2.5, 2.75, 3] },
  "seed=2": { el: [2.5, 2, 1.5, 1.25], vi: [3.5, 2, 2, 2.5] },
};

function plan(): SweepPlan {
  const variants = Object.keys(curves).map((name, i) => ({
    name,
    group: "",
    hash: `${i}`.repeat(12),
    values: { seed: i + 1 },
    stages: [`t5-${i}${i}${i}${i}${i}${i}${i}${i}`],
  }));
  return {
    name: "p",
    mode: "grid",
    axes: { seed: [1, 2] },
    variants,
    stageRuns: variants.map((v) => ({
      id: v.stages[0],
      stage: "t5",
      kind: "train",
      hash: v.hash,
      after: [],
      variants: [v.name],
    })) as SweepPlan["stageRuns"],
    naive: 2,
    saved: 0,
  };
}

Deno.test("aggregateSweep tabulates each run's lowest validation loss per domain and the step of it", async () => {
  const out = await tempOut();
  try {
    const p = plan();
    const f = sweepFolders(out, p.name);
    for (const v of p.variants) {
      const dir = f.stageRun(v.stages[0]);
      await Deno.mkdir(dir, { recursive: true });
      const c = curves[v.name];
      const lines = [0, 1, 2, 3].map((i) =>
        JSON.stringify({ type: "eval", step: 10 * (i + 1), validationLoss: { el: c.el[i], vi: c.vi[i] } })
      );
      await Deno.writeTextFile(join(dir, "metrics.jsonl"), lines.join("\n") + "\n");
      await Deno.writeTextFile(
        join(dir, "summary.json"),
        JSON.stringify({ metrics: { "validation_loss/el": c.el[3], "validation_loss/vi": c.vi[3] } }),
      );
    }
    const { tables, incomplete } = await aggregateSweep(p, f);
    assert.deepEqual(incomplete, []);
    const get = (metric: string): MetricTable => tables.find((t) => t.metric === metric)!;
    assert.deepEqual(tables.map((t) => [t.metric, t.better]), [
      ["validation_loss/el", "lower"],
      ["validation_loss/vi", "lower"],
      ["best_validation_loss/el", "lower"],
      ["best_validation_step/el", "none"],
      ["best_validation_loss/vi", "lower"],
      ["best_validation_step/vi", "none"],
    ]);
    assert.deepEqual(get("best_validation_loss/vi").rows[0].values, { "seed=1": 2.5, "seed=2": 2 });
    // a tie (seed 2's 2 at steps 20 and 30) counts the first step
    assert.deepEqual(get("best_validation_step/vi").rows[0].values, { "seed=1": 20, "seed=2": 20 });
    assert.deepEqual(get("best_validation_step/el").rows[0].values, { "seed=1": 40, "seed=2": 40 });
    const best = get("best_validation_loss/vi").rows[0];
    assert.equal(best.mean, 2.25);
    assert.equal(best.std, Math.sqrt(0.125));
  } finally {
    await removeOut(out);
  }
});

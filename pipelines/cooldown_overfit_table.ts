/**
 * The README's tables for the Cooldown overfitting sweep, read from its results: final and best validation
 * loss per language (mean ± std over seeds) with the step of each seed's best vi loss, then the validation
 * curves of el and vi (the temperature switches at step 1,000).
 *
 * `deno task sweep pipelines/cooldown_overfit.ts --jobs 2 &&
 *  deno run --allow-read pipelines/cooldown_overfit_table.ts [SWEEP_JSON]` (default runs/cooldown_overfit/sweep.json).
 *
 * @module
 */
import { runScript } from "../src/cli/script.ts";
import { curveTable, pivotTable, readSweepResults } from "../src/sweep/markdown.ts";

const methods = [
  { stage: "t1", title: "T = 1", short: "T=1" },
  { stage: "t5", title: "T = 5", short: "T=5" },
  { stage: "cooldown", title: "Cooldown (5, then 1 at half-way)", short: "Cooldown" },
];

if (import.meta.main) {
  await runScript(async () => {
    const results = await readSweepResults(Deno.args[0] ?? "runs/cooldown_overfit/sweep.json");
    if (results.incomplete.length > 0) {
      throw new Error(`incomplete variants: ${results.incomplete.join(", ")}`);
    }
    console.log(pivotTable(results, {
      rowTitle: "method",
      stages: methods.map(({ stage, title }) => ({ stage, title })),
      columns: [
        { title: "el final", metric: "validation_loss/el" },
        { title: "ru final", metric: "validation_loss/ru" },
        { title: "vi final", metric: "validation_loss/vi" },
        { title: "vi best", metric: "best_validation_loss/vi" },
      ],
    }));
    console.log();
    console.log(pivotTable(results, {
      rowTitle: "method",
      stages: methods.map(({ stage, title }) => ({ stage, title })),
      columns: ["el", "ru", "vi"].map((l) => ({
        title: `${l} best at step (each seed)`,
        metric: `best_validation_step/${l}`,
        perSeed: true,
      })),
      digits: 0,
    }));
    console.log();
    const curve = (l: string) =>
      methods.map((m) => ({ title: `${l} ${m.short}`, stage: m.stage, domain: l }));
    console.log(curveTable(
      results,
      [...curve("el"), ...curve("vi")],
      [250, 500, 750, 1000, 1050, 1250, 1500, 1750, 2000],
    ));
  });
}

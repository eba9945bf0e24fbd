/**
 * The README's instruction-tuning tables, read from the sweep of pipelines/sft_mix.ts: per task, exact match
 * (%) and response loss of the held-out examples after each mix (mean ± std over seeds), each task's best
 * response loss during training and its step, then the held-out response loss of the smallest task over
 * training.
 *
 * `deno task sweep pipelines/sft_mix.ts && deno run --allow-read pipelines/sft_mix_table.ts [SWEEP_JSON]`
 * (default runs/sft_mix/sweep.json).
 *
 * @module
 */
import { runScript } from "../src/cli/script.ts";
import { curveTable, pivotTable, readSweepResults } from "../src/sweep/markdown.ts";

// largest first, as in pipelines/sft_mix.ts
const tasks = ["translit_ru", "upper_fr", "translit_el"];
const methods = [
  { train: "t1", evaluate: "eval_t1", title: "T = 1", short: "T=1" },
  { train: "t5", evaluate: "eval_t5", title: "T = 5", short: "T=5" },
  {
    train: "cooldown",
    evaluate: "eval_cooldown",
    title: "Cooldown (5, then 1 at half-way)",
    short: "Cooldown",
  },
];

if (import.meta.main) {
  await runScript(async () => {
    const results = await readSweepResults(Deno.args[0] ?? "runs/sft_mix/sweep.json");
    if (results.incomplete.length > 0) {
      throw new Error(`incomplete variants: ${results.incomplete.join(", ")}`);
    }
    console.log(pivotTable(results, {
      rowTitle: "exact match %",
      stages: methods.map((m) => ({ stage: m.evaluate, title: m.title })),
      columns: [
        ...tasks.map((t) => ({ title: t, metric: `exact_match/${t}` })),
        { title: "mean of the three", of: tasks.map((t) => `exact_match/${t}`) },
      ],
      scale: 100,
      digits: 1,
    }));
    console.log();
    console.log(pivotTable(results, {
      rowTitle: "response loss (nats per token)",
      stages: methods.map((m) => ({ stage: m.evaluate, title: m.title })),
      columns: [
        ...tasks.map((t) => ({ title: t, metric: `validation_loss/${t}` })),
        { title: "mean of the three", of: tasks.map((t) => `validation_loss/${t}`) },
      ],
    }));
    console.log();
    console.log(pivotTable(results, {
      rowTitle: "best response loss during training",
      stages: methods.map((m) => ({ stage: m.train, title: m.title })),
      columns: tasks.map((t) => ({ title: t, metric: `best_validation_loss/${t}` })),
    }));
    console.log();
    console.log(pivotTable(results, {
      rowTitle: "its step (each seed)",
      stages: methods.map((m) => ({ stage: m.train, title: m.title })),
      columns: tasks.map((t) => ({ title: t, metric: `best_validation_step/${t}`, perSeed: true })),
      digits: 0,
    }));
    console.log();
    const steps = results.curves.find((c) => c.stage === "t1")?.steps ?? [];
    console.log(curveTable(
      results,
      methods.flatMap((m) => [
        { title: `translit_el ${m.short}`, stage: m.train, domain: "translit_el" },
        { title: `translit_ru ${m.short}`, stage: m.train, domain: "translit_ru" },
      ]),
      steps,
    ));
  });
}

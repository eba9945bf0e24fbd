/**
 * The README's Cooldown tables, read from the sweep's results: final validation loss per language and the
 * high- and low-resource averages (mean ± std over seeds), then the validation curves of the largest and the
 * smallest language.
 *
 * `deno task sweep pipelines/cooldown.ts && deno run --allow-read pipelines/cooldown_table.ts [SWEEP_JSON]`
 * (default runs/cooldown/sweep.json).
 *
 * @module
 */
import { runScript } from "../src/cli/script.ts";
import { curveTable, pivotTable, readSweepResults } from "../src/sweep/markdown.ts";

// ordered by training size, as in pipelines/cooldown.ts: the first three are the high-resource languages
const languages = ["el", "tr", "ru", "fr", "es", "vi"];
const loss = (l: string): string => `validation_loss/${l}`;
const methods = [
  { stage: "t1", title: "T = 1", short: "T=1" },
  { stage: "t5", title: "T = 5", short: "T=5" },
  { stage: "t100", title: "T = 100", short: "T=100" },
  { stage: "scalar5", title: "scalarization T = 5", short: "scal. 5" },
  { stage: "unimax", title: "UniMax (cap 1)", short: "UniMax" },
  { stage: "cooldown", title: "Cooldown (5, then 1 at half-way)", short: "Cooldown" },
];

if (import.meta.main) {
  await runScript(async () => {
    const results = await readSweepResults(Deno.args[0] ?? "runs/cooldown/sweep.json");
    if (results.incomplete.length > 0) {
      throw new Error(`incomplete variants: ${results.incomplete.join(", ")}`);
    }
    console.log(pivotTable(results, {
      rowTitle: "method",
      stages: methods.map(({ stage, title }) => ({ stage, title })),
      columns: [
        ...languages.map((l) => ({ title: l, metric: loss(l) })),
        { title: "high avg", of: languages.slice(0, 3).map(loss) },
        { title: "low avg", of: languages.slice(3).map(loss) },
      ],
    }));
    console.log();
    const curve = (l: string, stages: string[]) =>
      stages.map((s) => ({
        title: `${l} ${methods.find((m) => m.stage === s)!.short}`,
        stage: s,
        domain: l,
      }));
    console.log(curveTable(
      results,
      [
        ...curve("el", ["t1", "t5", "t100", "cooldown"]),
        ...curve("vi", ["t1", "t5", "t100", "scalar5", "cooldown"]),
      ],
      [30, 60, 120, 180, 240],
    ));
  });
}

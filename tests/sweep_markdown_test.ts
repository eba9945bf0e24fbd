import assert from "node:assert/strict";
import type { GroupRow, MetricTable, SweepResults } from "../src/sweep/aggregate.ts";
import { curveTable, pivotTable, sweepMarkdown } from "../src/sweep/markdown.ts";

// Two stages over seeds 1 and 2, as aggregateSweep() writes them into sweep.json.
function row(values: number[]): GroupRow {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
  return {
    group: "",
    n: values.length,
    mean,
    std,
    ci95: null,
    values: Object.fromEntries(values.map((v, i) => [`seed=${i + 1}`, v])),
    best: false,
  };
}

function table(stage: string, metric: string, values: number[]): MetricTable {
  return { stage, metric, better: metric.includes("_step") ? "none" : "lower", rows: [row(values)] };
}

const results: SweepResults = {
  tables: [
    table("t1", "validation_loss/el", [1, 2]),
    table("t1", "validation_loss/vi", [5, 3]),
    table("t5", "validation_loss/el", [2, 2]),
    table("t5", "validation_loss/vi", [2, 4]),
    table("t5", "best_validation_step/vi", [50, 150]),
  ],
  curves: [
    { stage: "t5", domain: "vi", group: "", steps: [10, 20], mean: [3.25, 2.5], std: [0.1, 0.2], n: 2 },
  ],
  incomplete: [],
};

Deno.test("pivotTable: stages as rows, mean ± std per metric, the lower mean of each column in bold", () => {
  const md = pivotTable(results, {
    columns: [{ title: "el", metric: "validation_loss/el" }, { title: "vi", metric: "validation_loss/vi" }],
    stages: [{ stage: "t1", title: "T = 1" }, { stage: "t5", title: "T = 5" }],
  });
  assert.equal(
    md,
    [
      "|       | el                | vi                |",
      "| ----- | ----------------- | ----------------- |",
      "| T = 1 | **1.500 ± 0.707** | 4.000 ± 1.414     |",
      "| T = 5 | 2.000 ± 0.000     | **3.000 ± 1.414** |",
    ].join("\n"),
  );
});

Deno.test("pivotTable: an average column is the mean over seeds of each seed's average", () => {
  // t1: seed 1 (1 + 5) / 2 = 3, seed 2 (2 + 3) / 2 = 2.5 -> 2.75 ± 0.354 (not the mean of the two stds)
  const md = pivotTable(results, {
    columns: [{ title: "avg", of: ["validation_loss/el", "validation_loss/vi"] }],
    stages: [{ stage: "t1" }],
  });
  assert.equal(md.split("\n")[2], "| t1  | 2.750 ± 0.354 |");
});

Deno.test("pivotTable: a step column has no best, and a stage without the metric gets '-'", () => {
  const md = pivotTable(results, {
    columns: [{ title: "vi best at", metric: "best_validation_step/vi" }],
    stages: [{ stage: "t1" }, { stage: "t5" }],
    digits: 0,
  });
  assert.deepEqual(md.split("\n").slice(2), ["| t1  | -          |", "| t5  | 100 ± 71   |"]);
});

Deno.test("curveTable reads the mean curve at the asked steps, '-' where a step was not evaluated", () => {
  const md = curveTable(results, [{ title: "vi T=5", stage: "t5", domain: "vi" }], [10, 20, 30]);
  assert.deepEqual(md.split("\n").slice(2), ["| 10   | 3.250  |", "| 20   | 2.500  |", "| 30   | -      |"]);
});

Deno.test("sweepMarkdown: one table per metric family, columns named by the rest of the metric", () => {
  const md = sweepMarkdown(results);
  assert.match(md, /### validation_loss \(mean ± std over seeds\)\n\n\| {5}\| el {16}\| vi {16}\|/);
  assert.match(
    md,
    /### best_validation_step \(mean ± std over seeds\)\n\n\| {5}\| vi {7}\|\n\| --- \| -+ \|\n\| t5 {2}\| 100 ± 71 \|/,
  );
});

Deno.test("the table scripts say which sweep.json is missing and what writes it, in one line, exit 1", async () => {
  for (
    const script of [
      "pipelines/cooldown_table.ts",
      "pipelines/cooldown_overfit_table.ts",
      "pipelines/petalface_table.ts",
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "--allow-sys", script, "/nonexistent"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, script);
    assert.match(
      stderr,
      /^[a-z_]+_table\.ts: \/nonexistent(\/sweep\.json)? not found: run `deno task sweep PIPELINE` first; it writes sweep\.json\n$/,
    );
    assert.ok(stderr.startsWith(script.replace("pipelines/", "")), stderr);
  }
});

Deno.test("a '|' in a domain name is escaped, so the table keeps its columns", () => {
  const r: SweepResults = { tables: [table("s", "validation_loss/a|b", [1, 2])], curves: [], incomplete: [] };
  assert.equal(sweepMarkdown(r).split("\n")[2], "|     | a\\|b          |");
});

Deno.test("pivotTable: a perSeed column lists each seed's value instead of mean ± std", () => {
  const md = pivotTable(results, {
    columns: [{ title: "vi best at", metric: "best_validation_step/vi", perSeed: true }],
    stages: [{ stage: "t5" }],
    digits: 0,
  });
  assert.equal(md.split("\n")[2], "| t5  | 50, 150    |");
});

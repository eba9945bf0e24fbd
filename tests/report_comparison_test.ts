import assert from "node:assert/strict";
import { join } from "node:path";
import {
  buildComparison,
  compareRuns,
  formatStats,
  loadRun,
  renderComparison,
  ReportInputError,
  type RunData,
  writeComparison,
} from "../src/report/mod.ts";
import { main } from "../src/report/main.ts";
import { writeFixtureRun } from "./report_fixture.ts";

async function withRuns(
  seeds: number[],
  fn: (dirs: string[], root: string) => Promise<void>,
  name?: string,
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "mixtune_report_" });
  try {
    const dirs: string[] = [];
    for (const seed of seeds) dirs.push(await writeFixtureRun(root, { seed, name, steps: 50 }));
    await fn(dirs, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const close = (actual: number | undefined, expected: number) =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) < 1e-12, `${actual} != ${expected}`);

Deno.test("buildComparison() gives per-metric mean and sample std over seeds", async () => {
  await withRuns([0, 1, 2], async (dirs) => {
    const c = await buildComparison(dirs);
    assert.equal(c.groups.length, 1);
    const g = c.groups[0];
    assert.deepEqual(g.runs.map((r) => r.label), ["seed 0", "seed 1", "seed 2"]);
    assert.deepEqual(g.metrics.map((m) => `${m.stage}/${m.metric}`), [
      "ft/loss.final",
      "ft/val.el",
      "eval/accuracy",
      "eval/tar@far=1e-4",
    ]);
    // loss.final = 1.60, 1.61, 1.62: mean 1.61, sample std sqrt((0.01^2 + 0 + 0.01^2) / 2) = 0.01.
    const loss = g.metrics[0];
    assert.equal(loss.n, 3);
    close(loss.mean, 1.61);
    close(loss.std, 0.01);
    close(loss.min, 1.6);
    close(loss.max, 1.62);
    assert.deepEqual(Object.keys(loss.values), ["seed 0", "seed 1", "seed 2"]);
    close(g.metrics[3].std, 0.005);
  });
});

Deno.test("compareRuns() aggregates summary tables cell by cell, rows matched by their first cell", async () => {
  await withRuns([0, 2], async (dirs) => {
    const runs = await Promise.all(dirs.map(loadRun));
    const table = compareRuns(runs).groups[0].tables.find((t) => t.title === "Accuracy by model")!;
    assert.deepEqual(table.columns, ["model", "accuracy", "note"]);
    assert.equal(table.rows[0][0], "ft");
    assert.equal(table.rows[0][2], "mixed");
    assert.equal(table.rows[1][2], null);
    // petal accuracy 0.85 and 0.89: mean 0.87, std |0.04| / sqrt(2).
    const petal = table.rows[1][1] as { mean: number; std: number; n: number };
    close(petal.mean, 0.87);
    close(petal.std, 0.04 / Math.SQRT2);
    assert.equal(petal.n, 2);
  });
});

Deno.test("compareRuns() groups runs by pipeline and rejects tables whose columns differ", async () => {
  await withRuns([0, 1], async (dirs, root) => {
    const other = await loadRun(await writeFixtureRun(root, { seed: 5, name: "other", steps: 50 }));
    const runs: RunData[] = [...await Promise.all(dirs.map(loadRun)), other];
    const c = compareRuns(runs);
    assert.deepEqual(c.groups.map((g) => [g.pipeline, g.runs.length]), [["multilingual", 2], ["other", 1]]);
    assert.equal(c.groups[1].metrics[0].std, undefined);
    assert.equal(formatStats(c.groups[1].metrics[0], 1), "1.65");
    const evalStage = runs[1].stages[3];
    evalStage.summary!.tables[0].columns = ["model", "acc", "note"];
    assert.throws(
      () => compareRuns(runs),
      new ReportInputError(
        `${dirs[1]}: stage "eval" table "Accuracy by model": expected columns [model, accuracy, note] as in ${
          dirs[0]
        }, found [model, acc, note]`,
      ),
    );
  });
});

Deno.test("compareRuns() labels runs by folder when seeds are missing or repeated", async () => {
  await withRuns([4, 4], async (dirs) => {
    const runs = await Promise.all(dirs.map(loadRun));
    runs[1] = { ...runs[1], dir: `${runs[1].dir}-copy` };
    assert.deepEqual(compareRuns(runs).groups[0].runs.map((r) => r.label), [
      "multilingual-seed4",
      "multilingual-seed4-copy",
    ]);
  });
  assert.throws(
    () => compareRuns([]),
    new ReportInputError("comparison: expected at least one run folder, found none"),
  );
});

Deno.test("formatStats() writes mean ± std and the count when runs lack the value", () => {
  assert.equal(formatStats({ n: 3, mean: 1.61, std: 0.01, min: 1.6, max: 1.62 }, 3), "1.61 ± 0.01");
  assert.equal(formatStats({ n: 2, mean: 0.5, std: 0.25, min: 0.25, max: 0.75 }, 3), "0.5 ± 0.25 (n=2)");
});

Deno.test("writeComparison() writes a self-contained page with the mean ± std tables and band charts", async () => {
  await withRuns([0, 1, 2], async (dirs) => {
    const path = await writeComparison(dirs);
    assert.equal(path, join(dirs[0], "comparison.html"));
    const html = await Deno.readTextFile(path);
    assert.equal(html, await renderComparison(await buildComparison(dirs)));
    assert.ok(html.includes("<td>ft</td><td>loss.final</td><td>1.61 ± 0.01</td>"));
    assert.ok(html.includes("<caption>ft: Validation loss by domain (mean ± std)</caption>"));
    assert.ok(html.includes("<tr><td>el</td><td>1.72 ± 0.02</td></tr>"));
    assert.equal(html.includes("<script"), false);
    const titles = [...html.matchAll(/<figcaption>(.*?)<\/figcaption>/g)].map((m) => m[1]);
    assert.deepEqual(titles, [
      "pretrain: training loss",
      "ft: training loss",
      "ft: validation loss",
      "petal: training loss",
    ]);
    assert.match(html, /<g class="mark-area role-mark[^>]*><path [^>]*d="M[^"]+"/);
  });
});

async function quietly<T>(fn: () => Promise<T>): Promise<{ result: T; out: string[] }> {
  const out: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = console.log;
  try {
    return { result: await fn(), out };
  } finally {
    Object.assign(console, { log, error });
  }
}

Deno.test("main() writes one report per run, a comparison for several, and exits 1 or 2 on bad input", async () => {
  await withRuns([0, 1], async (dirs, root) => {
    assert.deepEqual(await quietly(() => main([dirs[0]])), {
      result: 0,
      out: [`wrote ${join(dirs[0], "report.html")}`],
    });
    const out = join(root, "cmp.html");
    assert.deepEqual(await quietly(() => main([...dirs, "--out", out])), {
      result: 0,
      out: [`wrote ${out}`],
    });
    assert.ok((await Deno.stat(out)).isFile);
    const missing = await quietly(() => main([join(root, "nope")]));
    assert.equal(missing.result, 1);
    assert.equal(
      missing.out[0],
      `error: ${join(root, "nope", "run.json")}: expected the run's run.json, found no such file (is ${
        join(root, "nope")
      } a run folder?)`,
    );
    const none = await quietly(() => main([]));
    assert.equal(none.result, 2);
    assert.match(
      none.out[0],
      /^error: expected at least one run folder, found none\n\nusage: deno task report/,
    );
  });
});

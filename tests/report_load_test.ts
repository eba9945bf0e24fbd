import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRun, ReportInputError } from "../src/report/mod.ts";
import { writeFixtureRun } from "./report_fixture.ts";

async function withFixture(fn: (runDir: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "mixtune_report_" });
  try {
    await fn(await writeFixtureRun(root, { seed: 3 }));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("loadRun() reads run.json, each stage's metrics and summary, and matches plan stages", async () => {
  await withFixture(async (dir) => {
    const run = await loadRun(dir);
    assert.equal(run.name, "multilingual");
    assert.equal(run.seed, 3);
    assert.deepEqual(run.stages.map((s) => s.ref.name), ["pretrain", "ft", "petal", "eval", "export"]);
    const [pretrain, ft, petal, evaluate, exported] = run.stages;
    assert.equal(pretrain.ref.cached, true);
    assert.equal(ft.metrics?.train.length, 20);
    assert.equal(ft.metrics?.evals.length, 4);
    assert.deepEqual(ft.metrics?.ignored, { debug: 1 });
    assert.equal(ft.metrics?.train[0].step, 10);
    assert.equal(ft.summary?.steps, 200);
    assert.equal(ft.plan?.adapters?.[0].rank, 8);
    assert.equal(petal.metrics?.gates.length, 2);
    assert.deepEqual(petal.metrics?.gates[0].histogram.hr.edges.length, 11);
    assert.equal(evaluate.metrics, undefined);
    assert.equal(evaluate.summary?.metrics.accuracy, 0.9 + 0.03);
    assert.equal(exported.metrics, undefined);
    assert.equal(exported.summary, undefined);
  });
});

Deno.test("loadRun() names the missing run.json", async () => {
  const root = await Deno.makeTempDir({ prefix: "mixtune_report_" });
  try {
    await assert.rejects(
      loadRun(root),
      new ReportInputError(
        `${
          join(root, "run.json")
        }: expected the run's run.json, found no such file (is ${root} a run folder?)`,
      ),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("loadRun() names the file, line and field of a bad metrics record", async () => {
  await withFixture(async (dir) => {
    const path = join(dir, "ft-h3000000", "metrics.jsonl");
    await Deno.writeTextFile(path, '{"type":"train","step":10,"loss":2}\n\n{"type":"eval","step":"20"}\n');
    await assert.rejects(
      loadRun(dir),
      new ReportInputError(`${path}:3: step: expected a number, found string "20"`),
    );
    await Deno.writeTextFile(path, '{"type":"train","step":10,"probabilities":{"el":"x"}}\n');
    await assert.rejects(
      loadRun(dir),
      new ReportInputError(`${path}:1: probabilities.el: expected a number, found string "x"`),
    );
    await Deno.writeTextFile(
      path,
      '{"type":"gate","step":1,"histogram":{"hr":{"edges":[0,1],"counts":[1,2]}}}\n',
    );
    await assert.rejects(
      loadRun(dir),
      new ReportInputError(`${path}:1: histogram.hr: expected 3 edges for 2 counts, found 2`),
    );
    await Deno.writeTextFile(path, '{"type":"train","step":10,"loss":2}\n{"type":"tra');
    const live = await loadRun(dir);
    assert.deepEqual(live.stages[1].metrics?.ignored, { "incomplete last line": 1 });
    assert.equal(live.stages[1].metrics?.train.length, 1);
    await Deno.writeTextFile(path, "{not json\n");
    await assert.rejects(loadRun(dir), (e: Error) => {
      assert.ok(e instanceof ReportInputError);
      assert.match(e.message, /metrics\.jsonl:1: expected one JSON object, found unparsable text \(/);
      return true;
    });
  });
});

Deno.test("loadRun() rejects a run.json stage without a folder and a summary row of the wrong width", async () => {
  await withFixture(async (dir) => {
    const runPath = join(dir, "run.json");
    const run = JSON.parse(await Deno.readTextFile(runPath));
    const summaryPath = join(dir, "eval-h3000000", "summary.json");
    await Deno.writeTextFile(
      summaryPath,
      JSON.stringify({
        stage: "eval",
        metrics: {},
        tables: [{ title: "t", columns: ["a", "b"], rows: [["x"]] }],
      }),
    );
    await assert.rejects(
      loadRun(dir),
      new ReportInputError(
        `${summaryPath}: tables[0].rows[0]: expected 2 cells (one per column), found an array`,
      ),
    );
    delete run.stages[1].dir;
    await Deno.writeTextFile(runPath, JSON.stringify(run));
    await assert.rejects(
      loadRun(dir),
      new ReportInputError(`${runPath}: stages[1].dir: expected a string, found nothing`),
    );
  });
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadRun, renderReport, ReportInputError, type RunData, type StageData } from "../src/report/mod.ts";
import { thin } from "../src/report/_chart_kit.ts";
import { stageCharts } from "../src/report/stage_charts.ts";
import { layoutStages, stageGraphSpec } from "../src/report/stage_graph.ts";
import { writeFixtureRun } from "./report_fixture.ts";

async function fixtureRun(options: { name?: string; steps?: number } = {}): Promise<RunData> {
  const root = await Deno.makeTempDir({ prefix: "mixtune_report_" });
  try {
    return await loadRun(await writeFixtureRun(root, { seed: 1, ...options }));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

let cached: Promise<string> | undefined;
function fixtureHtml(): Promise<string> {
  cached ??= fixtureRun().then(renderReport);
  return cached;
}

/** [section heading, figure title][] in page order; the graph figure sits under "Stage graph". */
function figureTitles(html: string): [string, string][] {
  const out: [string, string][] = [];
  let section = "";
  for (const m of html.matchAll(/<h2>(.*?)(?:<span|<\/h2>)|<figcaption>(.*?)<\/figcaption>/g)) {
    if (m[1] !== undefined) section = m[1];
    else out.push([section, m[2]]);
  }
  return out;
}

Deno.test("renderReport() writes a self-contained page: no scripts, links or external URLs", async () => {
  const html = await fixtureHtml();
  for (
    const banned of [
      "<script",
      "<link",
      "<img",
      "<iframe",
      " src=",
      " href=",
      "url(",
      "@import",
      "@font-face",
    ]
  ) {
    assert.equal(html.includes(banned), false, `page contains ${banned}`);
  }
  const withoutNamespaces = html.replace(/xmlns(:xlink)?="http:\/\/www\.w3\.org\/[^"]*"/g, "");
  assert.equal(/https?:/.test(withoutNamespaces), false);
});

Deno.test("renderReport() draws the expected charts for each stage", async () => {
  assert.deepEqual(figureTitles(await fixtureHtml()), [
    ["Stage graph", "Stages"],
    ["Stage pretrain", "Training loss"],
    ["Stage pretrain", "Learning rate"],
    ["Stage ft", "Training loss"],
    ["Stage ft", "Validation loss"],
    ["Stage ft", "Sampling probabilities"],
    ["Stage ft", "Sampling temperature"],
    ["Stage ft", "Learning rate"],
    ["Stage ft", "Throughput"],
    ["Stage ft", "Epochs per domain"],
    ["Stage petal", "Training loss"],
    ["Stage petal", "Planned sampling probabilities"],
    ["Stage petal", "Gate-weight distribution at step 100"],
    ["Stage petal", "Mean gate weight"],
  ]);
});

Deno.test("renderReport() charts hold data marks at the positions the data gives", async () => {
  const html = await fixtureHtml();
  const figures = [...html.matchAll(/<figure class="chart">(.*?)<\/figure>/gs)].map((m) => m[1]);
  assert.equal(figures.length, 14);
  for (const f of figures) {
    assert.match(f, /<svg [^>]*class="marks"/);
    const marks = [...f.matchAll(/<g class="mark-(line|rect|symbol|rule)[^"]*role-mark[^>]*>(.*?)<\/g>/gs)];
    assert.ok(marks.length > 0, `no data marks in ${f.slice(0, 120)}`);
    assert.ok(marks.some((m) => /<path [^>]*d="M[^"]+"/.test(m[2])), `no drawn path in ${f.slice(0, 120)}`);
  }
  // pretrain: loss 4, 3, 2 at steps 10, 20, 30 on a 400 x 190 plot with y domain [2, 4], 6 pixels from the
  // frame at the top and bottom, so the line does not hide on it.
  assert.match(figures[1], /aria-label="step: 10; loss: 4; series: total"[^>]* d="M0,6L200,95L400,184"/);
  // The graph draws one box per stage and one rule per dependsOn edge (1 + 1 + 2 + 1).
  assert.equal([...figures[0].matchAll(/aria-roledescription="rect mark"/g)].length, 5);
  assert.equal([...figures[0].matchAll(/aria-roledescription="rule mark"/g)].length, 5);
});

Deno.test("renderReport() shows summary tables, the plan and records it skipped", async () => {
  const html = await fixtureHtml();
  assert.ok(html.includes("<caption>Validation loss by domain</caption>"));
  assert.ok(html.includes('<tr><td>vi</td><td class="num">1.82</td></tr>'));
  assert.ok(html.includes('<tr><td>petal</td><td class="num">0.87</td><td class="empty">—</td></tr>'));
  assert.ok(html.includes("5,000 of 125,000 parameters trainable (4.00%); planned memory 2.00 MiB"));
  assert.ok(html.includes('<code>blocks.*.attn.qkv</code></td><td class="num">8</td>'));
  assert.ok(html.includes("<code>lora_fused</code>"));
  assert.ok(html.includes("metrics.jsonl records not shown: 1 of type &quot;debug&quot;"));
  assert.ok(html.includes("This stage wrote no metrics.jsonl and no summary.json."));
  assert.ok(html.includes('<span class="badge cached">cached</span>'));
});

Deno.test("renderReport() escapes names taken from the run", async () => {
  const html = await renderReport({ ...(await fixtureRun()), name: `<i>x</i> & "q"` });
  assert.ok(html.includes("<h1>mixtune run: &lt;i&gt;x&lt;/i&gt; &amp; &quot;q&quot;</h1>"));
  assert.equal(html.includes("<i>x</i>"), false);
});

Deno.test("stageCharts() thins long series and says so", async () => {
  const run = await fixtureRun({ steps: 25_000 });
  const charts = stageCharts(run.stages[1]);
  const loss = charts.find((c) => c.title === "Training loss")!;
  assert.equal(loss.note, "2500 records; one in 3 drawn");
  const totals = (loss.spec.data as { values: { step: number; series: string }[] }).values
    .filter((p) => p.series === "total").map((p) => p.step);
  assert.equal(totals.length, 834); // indices 0, 3, ..., 2499: the last record falls on the stride
  assert.deepEqual(totals.slice(0, 2), [10, 40]);
  assert.equal(totals[totals.length - 1], 25_000);
});

Deno.test("stageCharts() takes the mean gate weight from bin centres", () => {
  const stage: StageData = {
    ref: { name: "g", kind: "train", dir: "g", cached: false, dependsOn: [] },
    metrics: {
      train: [],
      evals: [],
      ignored: {},
      gates: [
        { type: "gate", step: 1, histogram: { hr: { edges: [0, 0.5, 1], counts: [1, 3] } } },
        { type: "gate", step: 2, histogram: { hr: { edges: [0, 0.5, 1], counts: [3, 1] } } },
      ],
    },
  };
  const charts = stageCharts(stage);
  assert.deepEqual(charts.map((c) => c.title), ["Gate-weight distribution at step 2", "Mean gate weight"]);
  assert.deepEqual(charts[1].spec.data, {
    values: [{ step: 1, series: "hr", value: 0.625 }, { step: 2, series: "hr", value: 0.375 }],
  });
});

Deno.test("layoutStages() places stages by dependency depth", () => {
  const ref = (name: string, dependsOn: string[]) => ({
    name,
    kind: "train",
    dir: name,
    cached: false,
    dependsOn,
  });
  const placed = layoutStages(
    [ref("a", []), ref("b", ["a"]), ref("c", ["a"]), ref("d", ["b", "c"])],
    "run.json",
  );
  assert.deepEqual(placed.map((p) => [p.name, p.column, p.row]), [["a", 0, 0], ["b", 1, 0], ["c", 1, 1], [
    "d",
    2,
    0,
  ]]);
});

Deno.test("stageGraphSpec() names unknown dependencies and cycles", () => {
  const ref = (name: string, dependsOn: string[]) => ({
    name,
    kind: "train",
    dir: name,
    cached: false,
    dependsOn,
  });
  const where = join("runs", "x", "run.json");
  assert.throws(
    () => stageGraphSpec([ref("a", []), ref("b", ["pretrian"])], where),
    new ReportInputError(`${where}: stage "b" depends on "pretrian", expected one of: a, b`),
  );
  assert.throws(
    () => stageGraphSpec([ref("a", ["c"]), ref("b", ["a"]), ref("c", ["b"])], where),
    new ReportInputError(`${where}: expected acyclic dependsOn, found the cycle a -> c -> b -> a`),
  );
});

Deno.test("thin() keeps every k-th item and always the last", () => {
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  assert.deepEqual(thin(range(10), 4), { items: [0, 3, 6, 9], stride: 3 });
  assert.deepEqual(thin(range(11), 4), { items: [0, 3, 6, 9, 10], stride: 3 });
  assert.deepEqual(thin(range(4), 4), { items: [0, 1, 2, 3], stride: 1 });
});

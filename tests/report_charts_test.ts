import assert from "node:assert/strict";
import { lineChart, type SeriesPoint } from "../src/report/_chart_kit.ts";
import { loadRun, renderReport } from "../src/report/mod.ts";
import { stageGraphSpec } from "../src/report/stage_graph.ts";
import { renderVegaLite } from "../src/report/vega_svg.ts";
import { writeFixtureRun } from "./report_fixture.ts";

/** The tick labels of a rendered chart's axes. */
function tickLabels(svg: string): string[] {
  const groups = [...svg.matchAll(/<g class="mark-text role-axis-label"[^>]*>(.*?)<\/g>/gs)];
  return groups.flatMap((g) => [...g[1].matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]));
}

/** Significant digits of a decimal label ("0.1667" has 4, "120" has 2). */
function significant(label: string): number {
  const digits = label.replace(/^[-−]/, "").replace(".", "").replace(/^0+/, "");
  return digits.replace(/0+$/, "").length;
}

Deno.test("lineChart() labels ticks with at most 4 significant digits, flat series and lone steps included", async () => {
  const cases: SeriesPoint[][] = [
    // a probability that never changes: 1/6 in float64
    [1, 2, 3].map((step) => ({ step, series: "el", value: 1 / 6 })),
    // a loss that moves by a few ulps
    [1, 2].map((step) => ({ step, series: "total", value: 9.6371252 + step * 2e-7 })),
    // a run of one logged step
    [{ step: 2, series: "total", value: 3 }],
  ];
  for (const points of cases) {
    const svg = await renderVegaLite(lineChart({ points, yTitle: "y", series: [points[0].series] }));
    const labels = tickLabels(svg);
    assert.ok(labels.length >= 2, `${labels}`);
    for (const l of labels) assert.ok(significant(l) <= 4, `tick label ${l} of ${labels.join(", ")}`);
    assert.ok(new Set(labels).size === labels.length, `repeated labels ${labels}`);
  }
});

Deno.test("lineChart() draws a rarely logged series as points as well as a line", async () => {
  const points: SeriesPoint[] = [
    ...Array.from({ length: 10 }, (_, i) => ({ step: i + 1, series: "el", value: 2 - i / 10 })),
    { step: 4, series: "vi", value: 3 },
    { step: 9, series: "vi", value: 2.5 },
  ];
  const svg = await renderVegaLite(lineChart({ points, yTitle: "loss", series: ["el", "vi"] }));
  const symbols = [
    ...svg.matchAll(
      /aria-roledescription="point"[^>]*aria-label="([^"]*)"|aria-label="([^"]*)"[^>]*aria-roledescription="point"/g,
    ),
  ];
  const labels = symbols.map((m) => m[1] ?? m[2]);
  assert.deepEqual(labels.map((l) => /series: (\w+)/.exec(l)?.[1]), ["vi", "vi"], svg.slice(0, 400));
});

Deno.test("stageGraphSpec() writes a cached stage's label in a dark colour on its faded box", async () => {
  const svg = await renderVegaLite(stageGraphSpec([
    { name: "pretrain", kind: "train", dir: "pretrain-1", cached: true, dependsOn: [] },
    { name: "finetune", kind: "train", dir: "finetune-2", cached: false, dependsOn: ["pretrain"] },
  ], "run.json"));
  // each stage's label: "<name> <kind>" in the text's aria-label, then its fill colour
  const fills = Object.fromEntries(
    [...svg.matchAll(/aria-label="[^"]*label: ([^"]*)"[^>]*fill="([^"]+)"/g)].map((m) => [m[1], m[2]]),
  );
  assert.deepEqual(fills, { "pretrain train (cached)": "#1d1d1f", "finetune train": "white" });
});

Deno.test("renderReport() shows rank-1 and TAR metrics in percent, like the stages' tables", async () => {
  const root = await Deno.makeTempDir({ prefix: "mixtune_report_" });
  try {
    const dir = await writeFixtureRun(root, { seed: 1 });
    const run = await loadRun(dir);
    const stage = run.stages.find((s) => s.summary !== undefined)!;
    stage.summary!.metrics = { "rank1/new_lr": 0.4625, "tar@1e-2/new_lr": 0.0625, loss: 0.5 };
    const html = await renderReport(run);
    assert.ok(html.includes('<tr><td>rank1/new_lr %</td><td class="num">46.25</td></tr>'));
    assert.ok(html.includes('<tr><td>tar@1e-2/new_lr %</td><td class="num">6.25</td></tr>'));
    assert.ok(html.includes('<tr><td>loss</td><td class="num">0.5</td></tr>'));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

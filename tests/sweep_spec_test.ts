import assert from "node:assert/strict";
import { loadPipelineSource } from "../src/cli/load.ts";
import { PipelineBuilder } from "../src/dsl/pipeline.ts";
import { PipelineError } from "../src/spec/problem.ts";
import { parsePath } from "../src/spec/paths.ts";
import { applySets, formatValue, validateSweep } from "../src/spec/sweep.ts";
import { parseYaml } from "../src/spec/yaml.ts";
import { axisNames, expandSweep } from "../src/sweep/expand.ts";
import { planSweep } from "../src/sweep/plan.ts";
import { cli, fixture, loadFixture, ROOT } from "./fixtures/helpers.ts";

/** tiny_sweep.yaml with its sweep block replaced by `block` (YAML text). */
async function withSweep(block: string): Promise<string> {
  const text = await Deno.readTextFile(ROOT + fixture("tiny_sweep.yaml"));
  return text.slice(0, text.indexOf("\nsweep:")) + "\nsweep:\n" + block;
}

/** The problems of a sweep block, formatted as the CLI prints them. */
async function sweepProblems(block: string): Promise<string> {
  const text = await withSweep(block);
  const { value, locations } = parseYaml(text, "s.yaml");
  const { sweep: _, ...rest } = value as Record<string, unknown>;
  const base = await loadFixture("tiny.yaml");
  try {
    validateSweep({ ...base, ...(rest as object) } as typeof base, (value as { sweep: unknown }).sweep, {
      locations,
      file: "s.yaml",
    });
  } catch (e) {
    if (e instanceof PipelineError) return e.format();
    throw e;
  }
  return "";
}

Deno.test("parsePath() reads keys, indexes and quoted keys, and rejects malformed paths", () => {
  assert.deepEqual(parsePath("stages.ft.adapters[0].rank"), ["stages", "ft", "adapters", 0, "rank"]);
  assert.deepEqual(parsePath('domains["my domain"].source'), ["domains", "my domain", "source"]);
  assert.equal(parsePath(".seed"), undefined);
  assert.equal(parsePath("stages..ft"), undefined);
  assert.equal(parsePath("stages[x]"), undefined);
  assert.equal(parsePath(""), undefined);
});

Deno.test("validateSweep() reports a bad value at the sweep's YAML line, as if written in place", async () => {
  const got = await sweepProblems(`  axes:
    stages.finetune.adapters[0].rank: [2, 0]
    seed: [1, -1]
`);
  const line = (await withSweep("")).split("\n").length;
  assert.equal(
    got,
    [
      `s.yaml:${line + 1}:43 stages.finetune.adapters[0].rank: expected an integer >= 1, found 0`,
      `s.yaml:${line + 2}:15 seed: expected an integer in [0, 4294967295], found -1`,
    ].join("\n"),
  );
});

Deno.test("validateSweep() answers an unknown path with the closest valid paths", async () => {
  const line = (await withSweep("")).split("\n").length;
  assert.equal(
    await sweepProblems(`  axes:\n    stages.finetune.optimzer.lr: [1.0e-3]\n`),
    `s.yaml:${line + 1}:5 sweep.axes["stages.finetune.optimzer.lr"]: unknown spec path ` +
      `"stages.finetune.optimzer.lr"; closest valid paths: stages.finetune.optimizer.lr, ` +
      `stages.finetune.optimizer, stages.finetune.optimizer.clip`,
  );
  // a missing key under an existing object is unknown too (the checker knows the allowed keys)
  assert.equal(
    await sweepProblems(`  axes:\n    stages.finetune.optimizer.lrr: [1.0e-3]\n`),
    `s.yaml:${line + 1}:5 sweep.axes["stages.finetune.optimizer.lrr"]: unknown spec path ` +
      `"stages.finetune.optimizer.lrr"; closest valid paths: stages.finetune.optimizer.lr, ` +
      `stages.finetune.optimizer.clip, stages.finetune.optimizer`,
  );
});

Deno.test("validateSweep() checks the mode, empty axes and zip lengths", async () => {
  const line = (await withSweep("")).split("\n").length;
  assert.equal(
    await sweepProblems(
      `  mode: zipp\n  axes:\n    seed: [1, 2]\n    stages.finetune.optimizer.lr: [1.0e-3]\n`,
    ),
    [
      `s.yaml:${line}:3 sweep.mode: expected one of "grid", "zip", found "zipp"; did you mean "zip"?`,
    ].join("\n"),
  );
  assert.equal(
    await sweepProblems(
      `  mode: zip\n  axes:\n    seed: [1, 2]\n    stages.finetune.optimizer.lr: [1.0e-3]\n`,
    ),
    `s.yaml:${line + 1}:3 sweep.axes: expected axes of equal length for mode "zip", found seed: 2, ` +
      `stages.finetune.optimizer.lr: 1`,
  );
  assert.equal(
    await sweepProblems(`  axes:\n    seed: []\n`),
    `s.yaml:${line + 1}:5 sweep.axes.seed: expected a non-empty list of values, found an empty array`,
  );
});

Deno.test("expandSweep() names variants by their values (seed last) in grid and zip order", async () => {
  const base = await loadFixture("tiny.yaml");
  const axes = { seed: [1, 2], "stages.finetune.optimizer.lr": [5e-4, 0.01] };
  const grid = await expandSweep(base, { mode: "grid", axes });
  assert.deepEqual(grid.map((v) => v.name), [
    "lr=5e-4,seed=1",
    "lr=0.01,seed=1",
    "lr=5e-4,seed=2",
    "lr=0.01,seed=2",
  ]);
  assert.deepEqual(grid.map((v) => v.group), ["lr=5e-4", "lr=0.01", "lr=5e-4", "lr=0.01"]);
  assert.equal(grid[2].spec.seed, 2);
  const ft = grid[2].spec.stages.finetune;
  assert.equal(ft.kind === "train" && ft.optimizer.lr, 5e-4);
  assert.equal(new Set(grid.map((v) => v.hash)).size, 4);
  const zip = await expandSweep(base, { mode: "zip", axes });
  assert.deepEqual(zip.map((v) => v.name), ["lr=5e-4,seed=1", "lr=0.01,seed=2"]);
  assert.deepEqual(axisNames(["a.lr", "b.lr", "seed"]), { "a.lr": "a.lr", "b.lr": "b.lr", seed: "seed" });
  assert.deepEqual([5e-4, 0.01, 0.5, 8, 1e-3, 2e5].map(formatValue), [
    "5e-4",
    "0.01",
    "0.5",
    "8",
    "1e-3",
    "2e5",
  ]);
});

Deno.test("planSweep() shares a stage whose hash the swept values do not change", async () => {
  const { spec, sweep } = await loadPipelineSource(ROOT + fixture("tiny_sweep.yaml"));
  const { plan } = await planSweep(spec, sweep!);
  assert.equal(plan.variants.length, 4);
  assert.equal(plan.naive, 12);
  assert.equal(plan.stageRuns.length, 10);
  assert.equal(plan.saved, 2);
  const pretrains = plan.stageRuns.filter((r) => r.stage === "pretrain");
  assert.deepEqual(pretrains.map((r) => r.variants), [
    ["lr=5e-3,seed=1", "lr=0.01,seed=1"],
    ["lr=5e-3,seed=2", "lr=0.01,seed=2"],
  ]);
  // every stage run comes after the runs it needs
  const seen = new Set<string>();
  for (const r of plan.stageRuns) {
    for (const a of r.after) assert.ok(seen.has(a), `${r.id} before ${a}`);
    seen.add(r.id);
  }
});

Deno.test("PipelineBuilder.sweep() declares the same sweep as YAML's sweep: block", async () => {
  const yaml = await loadPipelineSource(ROOT + fixture("tiny_sweep.yaml"));
  const { name: _, ...rest } = await loadFixture("tiny.yaml");
  const builder = new PipelineBuilder({ ...rest, name: "tiny_sweep" })
    .sweep({ "stages.finetune.optimizer.lr": [5e-3, 1e-2], seed: [1, 2] });
  assert.deepEqual(builder.sweepSpec(), yaml.sweep);
  assert.deepEqual(
    (await planSweep(builder.build(), builder.sweepSpec()!)).plan,
    (await planSweep(yaml.spec, yaml.sweep!)).plan,
  );
  assert.throws(() => builder.sweep({ "stages.finetune.adapters[0].rank": [0] }).sweepSpec(), {
    name: "PipelineError",
    message: "stages.finetune.adapters[0].rank: expected an integer >= 1, found 0",
  });
});

Deno.test("applySets() overrides values in place and reports what --set got wrong", async () => {
  const base = await loadFixture("tiny.yaml");
  const set = applySets(base, ["stages.finetune.optimizer.lr=1e-4", "seed=9"], (t) => JSON.parse(t));
  const ft = set.stages.finetune;
  assert.equal(ft.kind === "train" && ft.optimizer.lr, 1e-4);
  assert.equal(set.seed, 9);
  assert.equal(base.seed, 3); // the base is not changed
});

Deno.test("deno task pipeline --set: bad values and unknown paths exit 2 with one line each", async () => {
  const tiny = fixture("tiny.yaml");
  let r = await cli([tiny, "--plan", "--set", "stages.finetune.adapters[0].rank=0"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    "--set stages.finetune.adapters[0].rank=0 stages.finetune.adapters[0].rank: expected an integer >= 1, found 0\n",
  );
  r = await cli([tiny, "--plan", "--set", "stages.pretrain.stepz=3"]);
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `--set stages.pretrain.stepz=3 stages.pretrain.stepz: unknown spec path "stages.pretrain.stepz"; ` +
      "closest valid paths: stages.pretrain.steps, stages.pretrain.kind, stages.pretrain.mix\n",
  );
  r = await cli([tiny, "--plan", "--set", "seed"]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `--set: expected PATH=VALUE, found "seed"\n`);
  r = await cli([tiny, "--plan", "--json", "--set", "stages.finetune.adapters[0].rank=4"]);
  assert.equal(r.code, 0);
  assert.equal(JSON.parse(r.stdout).stages[1].adapters[0].rank, 4);
});

/**
 * runPackedStages(), what the pack entry runs: claims each member's stage folder, reuses finished members,
 * trains a killed pack's unfinished members again from step 0, and fails on a folder another process holds.
 */
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { readWeights } from "../src/run/checkpoint.ts";
import { claimStage } from "../src/run/claim.ts";
import { runPackedStages } from "../src/run/packed_stages.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { relError, testDevice } from "./_harness.ts";
import { main } from "../src/cli/pack.ts";
import {
  captureLog,
  exists,
  fixture,
  loadFixture,
  metricsWithoutTiming,
  removeOut,
  ROOT,
  stagePath,
  tempOut,
} from "./fixtures/helpers.ts";

/** The tiny fixture's fine-tuning without mid-run checkpoints, at learning rate `lr` (pretrain unchanged). */
function variant(base: PipelineSpec, lr: number): PipelineSpec {
  const ft = base.stages.finetune as TrainStage;
  const stage: TrainStage = { ...ft, checkpointEvery: undefined, optimizer: { ...ft.optimizer, lr } };
  return { ...base, stages: { ...base.stages, finetune: stage } };
}

Deno.test("runPackedStages() fails on a busy folder, reuses finished members and trains a killed one from step 0", async () => {
  const device = await testDevice();
  if (!device) return;
  const base = await loadFixture("tiny.yaml");
  const specs = [variant(base, 5e-3), variant(base, 1e-2)];
  const members = specs.map((spec) => ({ spec, stage: "finetune" }));
  const out = await tempOut();
  try {
    await runPipeline(specs[0], { out, stage: "pretrain", log: captureLog() });
    const dirs = await Promise.all(specs.map((s) => stagePath(out, s, "finetune")));
    // another process runs member 2: the pack fails before training and lets go of member 1's folder
    const held = await claimStage(dirs[1]);
    await assert.rejects(runPackedStages(members, { out, log: captureLog() }), {
      name: "StageBusy",
      message: `${dirs[1]} is being run by pid ${Deno.pid} on ${hostname()} (lock ${
        dirs[1]
      }/lock); wait for it to finish`,
    });
    await held();
    await (await claimStage(dirs[0]))();
    assert.equal(await exists(`${dirs[0]}/summary.json`), false);

    assert.deepEqual(await runPackedStages(members, { out, log: captureLog() }), {
      trained: dirs,
      reused: [],
    });
    const weights = readWeights(await Deno.readFile(`${dirs[0]}/weights.safetensors`)).weights;
    const metrics = await metricsWithoutTiming(`${dirs[0]}/metrics.jsonl`);
    // killed while writing member 1's results: its summary is missing, a temporary file and stale metrics remain
    await Deno.remove(`${dirs[0]}/summary.json`);
    await Deno.writeTextFile(`${dirs[0]}/weights.safetensors.tmp-99`, "partial");
    await Deno.writeTextFile(`${dirs[0]}/metrics.jsonl`, `{"type":"train","step":2,"loss":1}\n`);
    const log = captureLog();
    assert.deepEqual(await runPackedStages(members, { out, log }), { trained: [dirs[0]], reused: [dirs[1]] });
    assert.deepEqual(log.lines.slice(0, 2), [
      `finetune: unchanged since a previous run, reusing ${dirs[1]}`,
      `finetune: train -> ${dirs[0]} (pack of 1)`,
    ]);
    assert.equal(await exists(`${dirs[0]}/weights.safetensors.tmp-99`), false);
    // trained again from step 0: the same lines and values as before (a pack of 1 against a pack of 2)
    const again = await metricsWithoutTiming(`${dirs[0]}/metrics.jsonl`);
    assert.deepEqual(again.map((m) => `${m.type} ${m.step}`), metrics.map((m) => `${m.type} ${m.step}`));
    const losses = (ms: Record<string, unknown>[]) =>
      ms.flatMap((m) => m.type === "train" ? [m.loss as number] : Object.values(m.validationLoss as object));
    const e = relError(losses(again), losses(metrics));
    assert.ok(e <= 3e-6, `metrics relative error ${e}`);
    const w = readWeights(await Deno.readFile(`${dirs[0]}/weights.safetensors`)).weights;
    for (const [name, x] of weights) {
      const err = relError(w.get(name)!, x, 1);
      assert.ok(err <= 3e-6, `${name}: relative error ${err}`);
    }
  } finally {
    await removeOut(out);
  }
});

/** The pack entry's `main()` in this process: its exit code and what it printed on stderr. */
async function packMain(args: string[]): Promise<{ code: number; stderr: string[] }> {
  const err: string[] = [];
  const { error } = console;
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    return { code: await main(args), stderr: err };
  } finally {
    console.error = error;
  }
}

Deno.test("the pack entry rejects bad input with exit 2 and one line", async () => {
  const tiny = fixture("tiny.yaml");
  const pair = (stage: string) => ["--variant", ROOT + tiny, "--stage", stage];
  const cases: [string[], string][] = [
    [
      [...pair("finetune").slice(0, 2)],
      "expected one --stage per --variant, found 1 --variant and 0 --stage",
    ],
    [pair("nope"), `${ROOT + tiny}: --stage: no stage named "nope"; stages: pretrain, finetune, check`],
    [
      [...pair("finetune"), ...pair("finetune")],
      `${ROOT + tiny}: --stage finetune of this file is listed twice`,
    ],
    [
      pair("finetune"),
      "cannot pack these variants: tiny stages.finetune: checkpoints mid-run, which packed runs do not do",
    ],
  ];
  for (const [args, line] of cases) {
    const r = await packMain(["--out", "/nonexistent", ...args]);
    assert.deepEqual([r.code, r.stderr[0].split("\n")[0]], [2, line], args.join(" "));
  }
});

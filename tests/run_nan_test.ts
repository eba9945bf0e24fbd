import assert from "node:assert/strict";
import { readWeights } from "../src/run/checkpoint.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  cli,
  exists,
  fixture,
  loadFixture,
  metricsWithoutTiming,
  removeOut,
  stagePath,
  tempOut,
} from "./fixtures/helpers.ts";

/** Names of the checkpointed weights that hold a non-finite value. */
async function nonFinite(dir: string): Promise<string[]> {
  const { weights } = readWeights(await Deno.readFile(`${dir}/checkpoint/weights.safetensors`));
  return [...weights].filter(([, w]) => !w.every(Number.isFinite)).map(([name]) => name);
}

Deno.test("the CLI stops a stage whose loss is not finite, naming the step and keeping the last good checkpoint", async () => {
  const device = await testDevice();
  if (!device) return;
  const spec = await loadFixture("nan.yaml");
  const out = await tempOut();
  try {
    const dir = await stagePath(out, spec, "pretrain");
    // the report of an earlier run does not survive a failed one
    await Deno.mkdir(`${out}/nan`);
    await Deno.writeTextFile(`${out}/nan/report.html`, "an earlier run");
    const r = await cli([fixture("nan.yaml"), "--out", out]);
    assert.equal(r.code, 1, r.stderr);
    // step 4 diverged; it was found at the read-back after step 6
    assert.deepEqual(r.stderr.trimEnd().split("\n").slice(-2), [
      `stage pretrain: the loss is not finite at step 4; the last good checkpoint is in ${dir}/checkpoint`,
      `partial results are in ${out}/nan`,
    ]);
    assert.equal(r.stdout, "");

    const state = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint/state.json`));
    assert.equal(state.step, 3);
    assert.deepEqual(await nonFinite(dir), []);
    const metrics = await metricsWithoutTiming(`${dir}/metrics.jsonl`);
    assert.deepEqual(metrics.map((m) => `${m.type} ${m.step}`), ["train 3"]);
    assert.ok(Number.isFinite(metrics[0].loss), `loss ${metrics[0].loss}`);
    assert.equal(await exists(`${dir}/summary.json`), false);
    assert.equal(await exists(`${dir}/weights.safetensors`), false);
    assert.equal(await exists(`${out}/nan/report.html`), false);
  } finally {
    await removeOut(out);
  }
});

Deno.test("runPipeline() never keeps a checkpoint written after a non-finite loss", async () => {
  const device = await testDevice();
  if (!device) return;
  const base = await loadFixture("nan.yaml");
  const stage = base.stages.pretrain as TrainStage;
  // a checkpoint every step, the loss read back every 3: steps 4 and 5 end before step 4 is found (at 6)
  const spec: PipelineSpec = { ...base, stages: { pretrain: { ...stage, checkpointEvery: 1 } } };
  const out = await tempOut();
  try {
    const dir = await stagePath(out, spec, "pretrain");
    await assert.rejects(runPipeline(spec, { out, log: captureLog() }), {
      name: "StageFailure",
      message:
        `stage pretrain: the loss is not finite at step 4; the last good checkpoint is in ${dir}/checkpoint`,
    });
    const state = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint/state.json`));
    assert.deepEqual({ step: state.step, nonFinite: await nonFinite(dir) }, { step: 3, nonFinite: [] });
  } finally {
    await removeOut(out);
  }
});

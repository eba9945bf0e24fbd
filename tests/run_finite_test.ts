import assert from "@std/assert";
import { runPipeline } from "../src/run/pipeline.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  exists,
  loadFixture,
  metricsWithoutTiming,
  removeOut,
  stagePath,
  tempOut,
} from "./fixtures/helpers.ts";

/**
 * nan.yaml's stage with a learning rate of 1e39, infinite in float32: the loss of step 1 is finite (it is
 * computed before the update) but the weights after it are not. Built here, past validation, on purpose.
 */
async function overflowing(change: Partial<TrainStage>): Promise<PipelineSpec> {
  const base = await loadFixture("nan.yaml");
  const stage = base.stages.pretrain as TrainStage;
  const pretrain: TrainStage = { ...stage, optimizer: { kind: "adamw", lr: 1e39 }, ...change };
  return { ...base, name: "overflow", stages: { pretrain } };
}

Deno.test("runPipeline() never completes nor caches a stage whose weights are not finite", async () => {
  if (!(await testDevice())) return;
  // one step: the only loss is finite, so only the weights show the failure
  const spec = await overflowing({ steps: 1, logEvery: 1, checkpointEvery: 1 });
  const out = await tempOut();
  try {
    const dir = await stagePath(out, spec, "pretrain");
    const failure = {
      name: "StageFailure",
      message: "stage pretrain: the weights or optimiser moments are not finite after step 1; " +
        "no checkpoint was written",
    };
    await assert.rejects(runPipeline(spec, { out, log: captureLog() }), failure);
    for (const file of ["summary.json", "weights.safetensors", "checkpoint"]) {
      assert.equal(await exists(`${dir}/${file}`), false, file);
    }
    // a second run is not served from a cache: it trains and fails again
    const log = captureLog();
    await assert.rejects(runPipeline(spec, { out, log }), failure);
    assert.deepEqual(log.lines, [`pretrain: train -> ${dir}`]);
  } finally {
    await removeOut(out);
  }
});

Deno.test("runPipeline() never checkpoints weights that are not finite, even between loss read-backs", async () => {
  if (!(await testDevice())) return;
  // the loss is read back after step 3 only; a checkpoint is due after every step
  const spec = await overflowing({ steps: 3, logEvery: 3, checkpointEvery: 1 });
  const out = await tempOut();
  try {
    const dir = await stagePath(out, spec, "pretrain");
    await assert.rejects(runPipeline(spec, { out, log: captureLog() }), {
      name: "StageFailure",
      message: "stage pretrain: the weights or optimiser moments are not finite after step 1; " +
        "no checkpoint was written",
    });
    assert.equal(await exists(`${dir}/checkpoint`), false);
    assert.deepEqual(await metricsWithoutTiming(`${dir}/metrics.jsonl`), []);
  } finally {
    await removeOut(out);
  }
});

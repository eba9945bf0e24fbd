import assert from "node:assert/strict";
import { readWeights, weightsFile } from "../src/run/checkpoint.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  copyOfReference,
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

/** Rewrites a stage's weights.safetensors with `change` applied to its weights. */
async function rewriteWeights(file: string, change: (w: Map<string, Float32Array>) => void): Promise<void> {
  const { weights, shapes } = readWeights(await Deno.readFile(file));
  change(weights);
  await Deno.writeFile(file, weightsFile(weights, shapes));
}

Deno.test("runPipeline() refuses to reuse a stage whose saved weights are not finite", async () => {
  if (!(await testDevice())) return;
  const { out, pre } = await copyOfReference();
  try {
    const dir = `${out}/tiny/${pre}`;
    await rewriteWeights(`${dir}/weights.safetensors`, (w) => w.get("head.weight")![3] = NaN);
    await assert.rejects(runPipeline(await loadFixture("tiny.yaml"), { out, log: captureLog() }), {
      name: "StageFailure",
      message: `stage pretrain: head.weight in ${dir}/weights.safetensors is not finite; ` +
        `delete ${dir} to train the stage again`,
    });
  } finally {
    await removeOut(out);
  }
});

Deno.test("runPipeline() writes no summary whose metrics are not finite", async () => {
  if (!(await testDevice())) return;
  const { out, ft, check } = await copyOfReference();
  try {
    // finite weights so large that the evaluation's activations overflow
    await rewriteWeights(`${out}/tiny/${ft}/weights.safetensors`, (w) => w.forEach((v) => v.fill(3e38)));
    await Deno.remove(`${out}/tiny/${check}/summary.json`);
    await assert.rejects(runPipeline(await loadFixture("tiny.yaml"), { out, log: captureLog() }), {
      name: "StageFailure",
      message: `stage check: validation_loss/old is NaN; its summary is not written in ${out}/tiny/${check}`,
    });
    assert.equal(await exists(`${out}/tiny/${check}/summary.json`), false);
  } finally {
    await removeOut(out);
  }
});

import assert from "node:assert/strict";
import { readWeights } from "../src/run/checkpoint.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  cli,
  cliCommand,
  exists,
  fixture,
  loadFixture,
  metricsWithoutTiming,
  referenceRun,
  removeOut,
  stageFolder,
  summaryWithoutTiming,
  tempOut,
} from "./fixtures/helpers.ts";

/** The step of `<dir>/checkpoint/state.json`, or undefined while there is none (or it is being replaced). */
async function checkpointStep(dir: string): Promise<number | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/checkpoint/state.json`)).step;
  } catch {
    return undefined;
  }
}

/**
 * Starts the CLI on `file` and kills it (SIGKILL) as soon as `ready()` holds; fails when the process ends
 * first or `ready()` never holds within two minutes.
 */
async function killWhen(file: string, out: string, ready: () => Promise<boolean>): Promise<void> {
  const child = cliCommand([file, "--out", out]).spawn();
  let ended = false;
  const status = child.status.then(() => ended = true);
  const deadline = Date.now() + 120_000;
  let reached = false;
  while (!reached && !ended && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    reached = await ready();
  }
  if (!ended) child.kill("SIGKILL");
  await status;
  const { code, signal, stderr } = await child.output();
  assert.ok(
    reached,
    `the run ended (exit ${code}) before it could be killed\n${new TextDecoder().decode(stderr)}`,
  );
  assert.equal(signal, "SIGKILL");
}

Deno.test("a run killed mid-stage and resumed ends as a run never interrupted", async () => {
  const device = await testDevice();
  if (!device) return;
  const spec = await loadFixture("tiny.yaml");
  const reference = `${await referenceRun()}/tiny`;
  const out = await tempOut();
  try {
    const pre = await stageFolder(spec, "pretrain");
    const ft = await stageFolder(spec, "finetune");
    const dir = `${out}/tiny/${ft}`;
    // finetune: 12 steps, a metrics line every 2, validation at 6, a checkpoint every 4; killed once the
    // lines of step 6 are written, so (unless step 8 was quicker) they follow the checkpoint of step 4
    const lineOf6 = async () =>
      (await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => "")).includes('"step":6');
    await killWhen(fixture("tiny.yaml"), out, lineOf6);
    const at = (await checkpointStep(dir))!;
    assert.ok(at === 4 || at === 8, `killed after the checkpoint at step ${at}`);
    assert.equal(await exists(`${dir}/summary.json`), false, "killed mid-stage");
    const saved = readWeights(await Deno.readFile(`${dir}/checkpoint/weights.safetensors`)).weights;
    assert.ok(saved.has("blocks.0.attn.qkv.lora_A.weight"), [...saved.keys()].join(", "));

    const resumed = await cli([fixture("tiny.yaml"), "--out", out, "--resume"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const lines = resumed.stderr.split("\n");
    assert.ok(
      lines.includes(`pretrain: unchanged since a previous run, reusing ${out}/tiny/${pre}`),
      resumed.stderr,
    );
    assert.ok(lines.includes(`finetune: resuming at step ${at} of 12`), resumed.stderr);

    for (const file of ["weights.safetensors", "adapter/adapter_model.safetensors"]) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/${file}`),
        await Deno.readFile(`${reference}/${ft}/${file}`),
        file,
      );
    }
    assert.deepEqual(
      await summaryWithoutTiming(`${dir}/summary.json`),
      await summaryWithoutTiming(`${reference}/${ft}/summary.json`),
    );
    // the lines written after the checkpoint and before the kill are replaced, not repeated
    assert.deepEqual(
      await metricsWithoutTiming(`${dir}/metrics.jsonl`),
      await metricsWithoutTiming(`${reference}/${ft}/metrics.jsonl`),
    );
    const check = await stageFolder(spec, "check");
    assert.deepEqual(
      await summaryWithoutTiming(`${out}/tiny/${check}/summary.json`),
      await summaryWithoutTiming(`${reference}/${check}/summary.json`),
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("a run resumed from a checkpoint between two metrics lines logs the same metrics", async () => {
  const device = await testDevice();
  if (!device) return;
  const tiny = await loadFixture("tiny.yaml");
  // pretrain alone: 12 steps, a metrics line every 4 steps, a checkpoint every 3 (none on a line)
  const pretrain: TrainStage = {
    ...(tiny.stages.pretrain as TrainStage),
    steps: 12,
    logEvery: 4,
    checkpointEvery: 3,
  };
  const spec: PipelineSpec = { ...tiny, name: "between", stages: { pretrain } };
  const out = await tempOut();
  try {
    const file = `${out}/between.json`;
    await Deno.writeTextFile(file, JSON.stringify(spec));
    const dir = `${out}/between/${await stageFolder(spec, "pretrain")}`;
    await killWhen(file, out, async () => ((await checkpointStep(dir)) ?? 0) >= 3);
    const at = (await checkpointStep(dir))!;
    assert.ok([3, 6, 9].includes(at), `killed after the checkpoint at step ${at}`);
    assert.equal(await exists(`${dir}/summary.json`), false, "killed mid-stage");
    const resumed = await cli([file, "--out", out, "--resume"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(resumed.stderr.split("\n").includes(`pretrain: resuming at step ${at} of 12`), resumed.stderr);

    const reference = `${out}/reference`;
    await runPipeline(spec, { out: reference, log: captureLog() });
    const ref = `${reference}/between/${await stageFolder(spec, "pretrain")}`;
    assert.deepEqual(
      await Deno.readFile(`${dir}/weights.safetensors`),
      await Deno.readFile(`${ref}/weights.safetensors`),
    );
    assert.deepEqual(
      await metricsWithoutTiming(`${dir}/metrics.jsonl`),
      await metricsWithoutTiming(`${ref}/metrics.jsonl`),
    );
    assert.deepEqual(
      await summaryWithoutTiming(`${dir}/summary.json`),
      await summaryWithoutTiming(`${ref}/summary.json`),
    );
  } finally {
    await removeOut(out);
  }
});

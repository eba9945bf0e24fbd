import assert from "node:assert/strict";
import { limitsInUse } from "../src/compile/limits.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  loadFixture,
  metricsWithoutTiming,
  referenceRun,
  removeOut,
  stageFolder,
  summaryWithoutTiming,
  tempOut,
} from "./fixtures/helpers.ts";

Deno.test("runPipeline() twice with the same seed gives identical metrics and weights", async () => {
  const device = await testDevice();
  if (!device) return;
  const spec = await loadFixture("tiny.yaml");
  const first = `${await referenceRun()}/tiny`;
  const out = await tempOut();
  try {
    await runPipeline(spec, { out, log: captureLog() });
    const second = `${out}/tiny`;
    const pre = await stageFolder(spec, "pretrain");
    const ft = await stageFolder(spec, "finetune");

    const a = await metricsWithoutTiming(`${first}/${pre}/metrics.jsonl`);
    // pretrain: 6 steps, a line every 2, one validation pass at the end
    assert.deepEqual(a.map((m) => `${m.type} ${m.step}`), ["train 2", "train 4", "train 6", "eval 6"]);
    assert.ok(a.every((m) => m.type !== "train" || Number.isFinite(m.loss)), "finite losses");
    assert.deepEqual(await metricsWithoutTiming(`${second}/${pre}/metrics.jsonl`), a);

    const b = await metricsWithoutTiming(`${first}/${ft}/metrics.jsonl`);
    assert.equal(b.filter((m) => m.type === "train").length, 6);
    assert.equal(b.filter((m) => m.type === "eval").length, 2);
    assert.deepEqual(await metricsWithoutTiming(`${second}/${ft}/metrics.jsonl`), b);

    for (
      const file of [
        `${pre}/weights.safetensors`,
        `${ft}/weights.safetensors`,
        `${ft}/adapter/adapter_model.safetensors`,
      ]
    ) {
      assert.deepEqual(
        await Deno.readFile(`${second}/${file}`),
        await Deno.readFile(`${first}/${file}`),
        file,
      );
    }
    for (const stage of ["pretrain", "finetune", "check"]) {
      const summary = `${await stageFolder(spec, stage)}/summary.json`;
      assert.deepEqual(
        await summaryWithoutTiming(`${second}/${summary}`),
        await summaryWithoutTiming(`${first}/${summary}`),
      );
    }
  } finally {
    await removeOut(out);
  }
});

Deno.test("runPipeline() with another seed gives other weights and metrics", async () => {
  const device = await testDevice();
  if (!device) return;
  const spec = await loadFixture("tiny.yaml");
  const first = `${await referenceRun()}/tiny`;
  const out = await tempOut();
  try {
    const reseeded = { ...spec, seed: spec.seed + 1 };
    await runPipeline(reseeded, { out, stage: "pretrain", log: captureLog() });
    const a = `${first}/${await stageFolder(spec, "pretrain")}`;
    const b = `${out}/tiny/${await stageFolder(reseeded, "pretrain")}`;
    assert.notDeepEqual(
      await Deno.readFile(`${b}/weights.safetensors`),
      await Deno.readFile(`${a}/weights.safetensors`),
    );
    const loss = async (dir: string) =>
      (await metricsWithoutTiming(`${dir}/metrics.jsonl`)).map((m) => m.loss);
    assert.notDeepEqual(await loss(b), await loss(a));
  } finally {
    await removeOut(out);
  }
});

Deno.test("planPipeline() plans the GPU memory that each train stage's run allocates", async () => {
  const device = await testDevice();
  if (!device) return;
  const spec = await loadFixture("tiny.yaml");
  // planned for the device the run uses, as the CLI plans (its operand textures count where it reads them)
  const plan = await planPipeline(spec, { limits: await limitsInUse() });
  const out = await referenceRun();
  for (const stage of ["pretrain", "finetune"]) {
    const summary = JSON.parse(
      await Deno.readTextFile(`${out}/tiny/${await stageFolder(spec, stage)}/summary.json`),
    );
    const planned = plan.stages.find((s) => s.name === stage)!;
    // summary and plan name the breakdown `memory` and its total `memoryBytes`
    assert.deepEqual(summary.memory, planned.memory, stage);
    assert.equal(summary.memoryBytes, planned.memoryBytes, stage);
  }
});

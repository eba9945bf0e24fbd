import assert from "node:assert/strict";
import { isAbsolute, resolve } from "node:path";
import { runPipeline, stageOf } from "../src/run/pipeline.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  loadFixture,
  metricsWithoutTiming,
  removeOut,
  stageFolder,
  tempOut,
  withoutTimings,
} from "./fixtures/helpers.ts";

/** The stage records of `<root>/run.json`: name, folder and whether it was reused. */
async function runJson(root: string): Promise<[string, string, boolean][]> {
  const run = JSON.parse(await Deno.readTextFile(`${root}/run.json`));
  return run.stages.map((s: { name: string; dir: string; cached: boolean }) => [s.name, s.dir, s.cached]);
}

/** tiny.yaml with the fine-tuning stage's learning rate changed. */
function withFinetuneLr(spec: PipelineSpec, lr: number): PipelineSpec {
  const ft = spec.stages.finetune as TrainStage;
  return validatePipeline({
    ...spec,
    stages: { ...spec.stages, finetune: { ...ft, optimizer: { ...ft.optimizer, lr } } },
  });
}

Deno.test("runPipeline() reuses unchanged stages and re-runs a changed stage and the stages after it", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    const spec = await loadFixture("tiny.yaml");
    const root = `${out}/tiny`;
    const pre = await stageFolder(spec, "pretrain");
    const ft = await stageFolder(spec, "finetune");
    const check = await stageFolder(spec, "check");
    assert.match(pre, /^pretrain-[0-9a-f]{8}$/);

    // first run: every stage computed, each in <stage>-<hash8>
    let log = captureLog();
    const first = await runPipeline(spec, { out, log });
    assert.deepEqual(withoutTimings(log.lines), [
      `pretrain: train -> ${root}/${pre}`,
      `finetune: train -> ${root}/${ft}`,
      `check: evaluate -> ${root}/${check}`,
      `report: ${root}/report.html`,
    ]);
    assert.deepEqual(first.stages.map((s) => [s.name, s.dir, s.cached]), [
      ["pretrain", pre, false],
      ["finetune", ft, false],
      ["check", check, false],
    ]);
    // each record's path is the folder itself, usable from any working directory; run.json keeps it relative
    assert.equal(stageOf(first, "finetune").path, resolve(root, ft));
    assert.ok(isAbsolute(stageOf(first, "check").path));
    assert.equal("path" in JSON.parse(await Deno.readTextFile(`${root}/run.json`)).stages[0], false);
    assert.throws(() => stageOf(first, "tune"), {
      name: "RangeError",
      message: 'pipeline tiny ran no stage named "tune" (stages: pretrain, finetune, check)',
    });
    assert.deepEqual(await runJson(root), [["pretrain", pre, false], ["finetune", ft, false], [
      "check",
      check,
      false,
    ]]);
    const ftWeights = await Deno.readFile(`${root}/${ft}/weights.safetensors`);

    // the same pipeline again: everything reused, nothing trained, the same summaries
    log = captureLog();
    const second = await runPipeline(spec, { out, log });
    assert.deepEqual(withoutTimings(log.lines), [
      `pretrain: unchanged since a previous run, reusing ${root}/${pre}`,
      `finetune: unchanged since a previous run, reusing ${root}/${ft}`,
      `check: unchanged since a previous run, reusing ${root}/${check}`,
      `report: ${root}/report.html`,
    ]);
    assert.deepEqual(await runJson(root), [["pretrain", pre, true], ["finetune", ft, true], [
      "check",
      check,
      true,
    ]]);
    const summaries = (r: typeof first) => JSON.parse(JSON.stringify(r.stages.map((s) => s.summary)));
    assert.deepEqual(summaries(second), summaries(first));
    assert.deepEqual(await Deno.readFile(`${root}/${ft}/weights.safetensors`), ftWeights);

    // a new learning rate for finetune: pretrain reused; finetune and check (after it) run in new folders
    const changed = withFinetuneLr(spec, 1e-2);
    assert.equal(await stageFolder(changed, "pretrain"), pre);
    const ft2 = await stageFolder(changed, "finetune");
    const check2 = await stageFolder(changed, "check");
    assert.notEqual(ft2, ft);
    assert.notEqual(check2, check);
    log = captureLog();
    await runPipeline(changed, { out, log });
    assert.deepEqual(withoutTimings(log.lines), [
      `pretrain: unchanged since a previous run, reusing ${root}/${pre}`,
      `finetune: train -> ${root}/${ft2}`,
      `check: evaluate -> ${root}/${check2}`,
      `report: ${root}/report.html`,
    ]);
    assert.deepEqual(await runJson(root), [["pretrain", pre, true], ["finetune", ft2, false], [
      "check",
      check2,
      false,
    ]]);
    const folders = [...Deno.readDirSync(root)].filter((e) => e.isDirectory).map((e) => e.name).sort();
    assert.deepEqual(folders, [check, check2, ft, ft2, pre].sort());
    assert.notDeepEqual(await Deno.readFile(`${root}/${ft2}/weights.safetensors`), ftWeights);

    // only the evaluate stage changed: both train stages reused
    const evalOnly = validatePipeline({
      ...changed,
      stages: { ...changed.stages, check: { ...changed.stages.check, domains: ["new"] } },
    });
    const check3 = await stageFolder(evalOnly, "check");
    log = captureLog();
    const fourth = await runPipeline(evalOnly, { out, log });
    assert.deepEqual(withoutTimings(log.lines), [
      `pretrain: unchanged since a previous run, reusing ${root}/${pre}`,
      `finetune: unchanged since a previous run, reusing ${root}/${ft2}`,
      `check: evaluate -> ${root}/${check3}`,
      `report: ${root}/report.html`,
    ]);
    assert.deepEqual(Object.keys(fourth.stages[2].summary.metrics as object), ["validation_loss/new"]);

    // finetune computed on top of the reused pretrain equals finetune computed in a run from scratch
    const fresh = await tempOut();
    try {
      log = captureLog();
      await runPipeline(changed, { out: fresh, stage: "finetune", log });
      assert.deepEqual(withoutTimings(log.lines), [
        `pretrain: train -> ${fresh}/tiny/${pre}`,
        `finetune: train -> ${fresh}/tiny/${ft2}`,
        `report: ${fresh}/tiny/report.html`,
      ]);
      for (const file of ["weights.safetensors", "adapter/adapter_model.safetensors"]) {
        assert.deepEqual(
          await Deno.readFile(`${fresh}/tiny/${ft2}/${file}`),
          await Deno.readFile(`${root}/${ft2}/${file}`),
          file,
        );
      }
      assert.deepEqual(
        await metricsWithoutTiming(`${fresh}/tiny/${ft2}/metrics.jsonl`),
        await metricsWithoutTiming(`${root}/${ft2}/metrics.jsonl`),
      );
    } finally {
      await removeOut(fresh);
    }
  } finally {
    await removeOut(out);
  }
});

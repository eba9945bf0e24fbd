/** Train stages that start from folders: `from: { checkpoint: DIR, adapter: DIR }`. */
import assert from "node:assert/strict";
import { main as merge } from "../src/cli/merge.ts";
import { main } from "../src/cli/main.ts";
import { readWeights } from "../src/run/checkpoint.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { checkPipeline } from "../src/spec/validate.ts";
import { loadPipelineYaml } from "../src/spec/yaml.ts";
import { PipelineError } from "../src/spec/problem.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { initAdapters } from "../src/adapters/init.ts";
import { savePeft } from "../src/adapters/peft.ts";
import { stagePlacements } from "../src/compile/stage_setup.ts";
import { stageHash } from "../src/spec/hash.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, loadFixture, referenceRun, stagePath, tempOut } from "./fixtures/helpers.ts";

Deno.test("validation reports a malformed from folder with its place", async () => {
  const spec = await loadFixture("tiny.yaml");
  const problems = (from: unknown) => {
    const s = structuredClone(spec) as unknown as { stages: Record<string, Record<string, unknown>> };
    s.stages.finetune.from = from;
    delete s.stages.finetune.dependsOn;
    return checkPipeline(s);
  };
  assert.deepEqual(problems({ adapter: "" }), [
    { path: "stages.finetune.from.adapter", message: 'expected a non-empty string, found ""' },
  ]);
  assert.deepEqual(problems({}), [
    {
      path: "stages.finetune.from",
      message: "expected adapter: DIR and/or checkpoint: DIR, found an empty object",
    },
  ]);
  assert.deepEqual(problems({ adapter: "a", checkpiont: "b" }), [
    {
      path: "stages.finetune.from.checkpiont",
      message: 'unknown key "checkpiont"; did you mean "checkpoint"?',
    },
  ]);
  const yaml = (await Deno.readTextFile("tests/fixtures/tiny.yaml")).replace(
    "    from: pretrain\n",
    "    from: { adapter: 7 }\n",
  );
  assert.throws(
    () => loadPipelineYaml(yaml, "t.yaml"),
    (e: Error) =>
      e instanceof PipelineError &&
      e.message === "t.yaml:44:13 stages.finetune.from.adapter: expected a non-empty string, found 7",
  );
});

Deno.test("checkpoint + adapter folders give back the fine-tuned stage's weights exactly", async () => {
  if (!(await testDevice())) return;
  const spec = await loadFixture("tiny.yaml");
  const reference = await referenceRun();
  const pre = await stagePath(reference, spec, "pretrain");
  const ft = await stagePath(reference, spec, "finetune");
  const out = await tempOut();
  try {
    // the pretrained model, merged into the Hugging Face layout (it has no LoRA: a plain copy)
    assert.equal(await merge([pre, "--out", `${out}/pretrained`]), 0);
    const finetune = spec.stages.finetune as TrainStage;
    // lr 1e-30 (lr must be > 0): Adam's steps of about lr are far below half an ulp of every trained weight,
    // so the stage ends with its starting values
    const again: TrainStage = {
      ...finetune,
      from: { checkpoint: `${out}/pretrained`, adapter: `${ft}/adapter` },
      dependsOn: [],
      optimizer: { kind: "adamw", lr: 1e-30 },
      steps: 1,
      logEvery: 1,
      evalEvery: 1,
      checkpointEvery: 1,
    };
    const second: PipelineSpec = { ...spec, name: "again", stages: { again } };
    assert.deepEqual(checkPipeline(second), []);
    await runPipeline(second, { out, log: captureLog() });
    const got = readWeights(
      await Deno.readFile(`${await stagePath(out, second, "again")}/weights.safetensors`),
    );
    const want = readWeights(await Deno.readFile(`${ft}/weights.safetensors`));
    assert.deepEqual([...got.weights.keys()].sort(), [...want.weights.keys()].sort());
    for (const [name, w] of want.weights) assert.deepEqual(got.weights.get(name), w, name);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an adapter that does not fit the stage's placements exits 2 before anything trains", async () => {
  if (!(await testDevice())) return;
  const spec = await loadFixture("tiny.yaml");
  const ft = await stagePath(await referenceRun(), spec, "finetune");
  const out = await tempOut();
  const { error } = console;
  const errors: string[] = [];
  console.error = (m: string) => errors.push(m);
  try {
    const finetune = spec.stages.finetune as TrainStage;
    const wider: TrainStage = {
      ...finetune,
      from: { adapter: ft },
      dependsOn: [],
      adapters: [{ ...finetune.adapters![0], rank: 4 }],
    };
    const file = `${out}/wider.json`;
    await Deno.writeTextFile(file, JSON.stringify({ ...spec, name: "wider", stages: { wider } }));
    assert.equal(await main([file, "--out", out]), 2);
    assert.deepEqual(errors, [
      `${file} stages.wider.from.adapter: ${ft}/adapter adapts "blocks.0.attn.qkv" with rank 2, scale 1; ` +
      "the stage places rank 4, scale 1",
    ]);
    assert.deepEqual([...Deno.readDirSync(`${out}/wider`)].map((e) => e.name), []);
  } finally {
    console.error = error;
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the stage hash follows the contents of its start folders, not their names", async () => {
  const spec = await loadFixture("tiny.yaml");
  const dir = await tempOut();
  try {
    const finetune = spec.stages.finetune as TrainStage;
    const placements = stagePlacements("ft", finetune, spec.model);
    const weights = initAdapters(placements, 1);
    await savePeft(`${dir}/a`, { placements, weights });
    await savePeft(`${dir}/b`, { placements, weights });
    const hashFor = (adapter: string) =>
      stageHash(
        { ...spec, stages: { ft: { ...finetune, from: { adapter }, dependsOn: [] } } },
        "ft",
        "test",
      );
    const a = await hashFor(`${dir}/a`);
    assert.equal(await hashFor(`${dir}/b`), a);
    weights[0].branches[0].a[0] += 1;
    await savePeft(`${dir}/b`, { placements, weights });
    assert.notEqual(await hashFor(`${dir}/b`), a);
    await assert.rejects(
      () => hashFor(`${dir}/none`),
      (e: Error) =>
        e instanceof PipelineError &&
        e.message === `stages.ft.from.adapter: ${dir}/none holds no adapter (no adapter_config.json or ` +
            `gate.json, there or in ${dir}/none/adapter)`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

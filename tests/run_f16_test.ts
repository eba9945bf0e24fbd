import assert from "node:assert/strict";
import { limitsInUse } from "../src/compile/limits.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { readWeights } from "../src/run/checkpoint.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, copyOfReference, loadFixture, removeOut, stageFolder } from "./fixtures/helpers.ts";

/** Names and shapes of a safetensors file's tensors, and its tensors. */
async function tensors(path: string): Promise<{ shapes: string[]; weights: Map<string, Float32Array> }> {
  const { weights, shapes } = readWeights(await Deno.readFile(path));
  return { shapes: [...shapes].map(([n, s]) => `${n} [${s}]`).sort(), weights };
}

Deno.test("a LoRA stage with frozenDtype f16 writes the files of the f32 stage: base as read, same layout", async () => {
  if (!(await testDevice())) return;
  const { out, ref, ft } = await copyOfReference();
  try {
    const spec = await loadFixture("tiny.yaml");
    const stage = spec.stages.finetune;
    assert.ok(stage.kind === "train");
    stage.frozenDtype = "f16";
    const log = captureLog();
    // pretrain is reused from the reference run; finetune (a new stage hash) trains with f16 frozen weights,
    // checkpointing every 4 steps and validating through the same parameter store
    await runPipeline(spec, { out, log });
    const dir = `${out}/tiny/${await stageFolder(spec, "finetune")}`;
    assert.notEqual(dir, `${out}/tiny/${ft}`);

    const got = await tensors(`${dir}/weights.safetensors`);
    const want = await tensors(`${ref}/${ft}/weights.safetensors`);
    assert.deepEqual(got.shapes, want.shapes);
    for (const [name, w] of got.weights) {
      assert.ok(w.every(Number.isFinite), `${name} is not finite`);
      // what the stage did not train is the pretrained base as read, not its f16 rounding
      if (!/lora_|^head\./.test(name)) assert.deepEqual(w, want.weights.get(name), name);
    }
    const adapter = await tensors(`${dir}/adapter/adapter_model.safetensors`);
    assert.deepEqual(
      adapter.shapes,
      (await tensors(`${ref}/${ft}/adapter/adapter_model.safetensors`)).shapes,
    );
    assert.equal(
      await Deno.readTextFile(`${dir}/adapter/adapter_config.json`),
      await Deno.readTextFile(`${ref}/${ft}/adapter/adapter_config.json`),
    );

    const summary = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
    const before = JSON.parse(await Deno.readTextFile(`${ref}/${ft}/summary.json`));
    // planned for the device the run uses (its operand textures count where it reads them)
    const planned = (await planPipeline(spec, { limits: await limitsInUse() })).stages.find((s) =>
      s.name === "finetune"
    )!;
    assert.deepEqual(summary.memory, planned.memory);
    assert.ok(summary.memory.frozenF16 > 0 && summary.memory.frozen < before.memory.frozen, summary.memory);
    assert.ok(Object.values(summary.metrics).every(Number.isFinite), JSON.stringify(summary.metrics));
  } finally {
    await removeOut(out);
  }
});

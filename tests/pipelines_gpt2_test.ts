/** The GPT-2 example scripts' pipelines plan as their comments say: weights counted, adapters placed. */
import assert from "node:assert/strict";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { adaptPipeline } from "../pipelines/gpt2_adapt.ts";
import { pretrainPipeline, writeInitialCheckpoint } from "../pipelines/gpt2_pretrain.ts";
import { removeOut, tempOut } from "./fixtures/helpers.ts";

Deno.test("pipelines/gpt2_pretrain.ts trains all 118,528 weights; gpt2_adapt.ts trains 4,096 LoRA weights on c_attn", async () => {
  const out = await tempOut();
  try {
    await writeInitialCheckpoint(`${out}/init`);
    const init = readPretrained(`${out}/init`);
    // GPT-2's initialisation: LayerNorms 1, biases 0
    assert.ok(init.weights.get("transformer.ln_f.weight")!.every((v) => v === 1));
    assert.ok(init.weights.get("transformer.h.1.attn.c_attn.bias")!.every((v) => v === 0));
    const pre = (await planPipeline(pretrainPipeline(`${out}/init`))).stages.find((s) =>
      s.name === "pretrain"
    )!;
    assert.deepEqual(pre.params, { total: 118528, trainable: 118528, share: 1 });
    const adapt = (await planPipeline(adaptPipeline(`${out}/init`))).stages.find((s) => s.name === "adapt")!;
    assert.deepEqual(adapt.params, { total: 118528 + 4096, trainable: 4096, share: 4096 / (118528 + 4096) });
    assert.deepEqual(adapt.adapters?.[0].modules, [
      "transformer.h.0.attn.c_attn",
      "transformer.h.1.attn.c_attn",
    ]);
  } finally {
    await removeOut(out);
  }
});

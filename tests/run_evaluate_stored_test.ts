/**
 * An evaluate stage keeps the frozen weights as the train stage it evaluates does (its frozenDtype): planned
 * with the 16-bit bytes, and its validation loss is the one a forward over 16-bit weights computes.
 */
import { pretrainedWeights } from "../src/models/params.ts";
import assert from "node:assert/strict";
import {
  adamw,
  dictionary,
  evaluate,
  lmLoss,
  lora,
  pipeline,
  pretrained,
  split,
  temperature,
  train,
} from "../mod.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { DomainCache } from "../src/compile/domains.ts";
import { Forward } from "../src/compile/forward.ts";
import { halfWeights } from "../src/compile/half_weights.ts";
import { ParamStore } from "../src/compile/param_store.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { stageModel } from "../src/compile/stage_model.ts";
import { buildModel } from "../src/models/graph.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { validationLoss } from "../src/run/validation.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { captureLog, removeOut, tempOut } from "./fixtures/helpers.ts";
import { TINY_LLAMA, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { testDevice } from "./_harness.ts";

const CONTEXT = 8;

function spec(dir: string, frozenDtype: "f32" | "bf16"): PipelineSpec {
  return pipeline("evaluate-stored")
    .seed(3)
    .domain("vi", dictionary("vi"), split(0.1))
    .model(pretrained(dir, { context: CONTEXT }))
    .stage(
      "tune",
      train({
        mix: temperature(["vi"]),
        adapters: [lora("model.layers.*.self_attn.q_proj", { rank: 2 })],
        loss: lmLoss(),
        optimizer: adamw({ lr: 1e-2 }),
        steps: 2,
        batch: 4,
        frozenDtype,
      }),
    )
    .stage("check", evaluate({ from: "tune", tasks: ["validation_loss"] }))
    .build();
}

Deno.test("an evaluate stage plans and keeps its frozen weights as its train stage does", async () => {
  const out = await tempOut();
  try {
    // an untied Llama: embedding and head both frozen 2-D weights read in 16 bits
    await writeTinyCheckpoint(`${out}/llama`, TINY_LLAMA);
    const [f32, bf16] = await Promise.all([
      planPipeline(spec(`${out}/llama`, "f32")),
      planPipeline(spec(`${out}/llama`, "bf16")),
    ]);
    const [e32, e16] = [f32.stages[1].forward!.memory, bf16.stages[1].forward!.memory];
    // the evaluate stage holds in 16 bits what the train stage does: the same tensors, the same bytes
    assert.equal(e16.weights16, bf16.stages[0].memory!.frozenF16);
    assert.equal(e32.weights16, undefined);
    assert.ok(e16.weights16! > 0 && e16.weights < e32.weights, JSON.stringify([e16, e32]));
    assert.equal(e16.activations, e32.activations);

    const device = await testDevice();
    if (!device) return;
    const s = spec(`${out}/llama`, "bf16");
    const result = await runPipeline(s, { out, log: captureLog() });
    const got = (result.stages[1].summary.metrics as Record<string, number>)["validation_loss/vi"];
    const dir = `${result.root}/${result.stages[0].dir}`;
    const { tensors } = readSafetensors(await Deno.readFile(`${dir}/weights.safetensors`));
    const weights = new Map(Object.entries(tensors).map(([k, t]) => [k, t.data]));
    const domains = new DomainCache(s);
    await domains.load(["vi"]);
    const batch = bf16.stages[1].forward!.batch;
    // the same forward over a store with the frozen weights in bf16, and in f32
    const loss = async (dtype: "f32" | "bf16") => {
      const sm = stageModel(s, "tune", s.stages.tune as TrainStage, domains);
      const graph = buildModel(s.model, sm.build(batch, 1));
      const half = halfWeights([graph.perExample], dtype);
      const params = [...graph.params.values()];
      const store = new ParamStore(device, params.map((p) => ({ ...p, half: half.get(p) ?? false })));
      // the stage's file holds what it trained; the checkpoint's frozen weights stream from its folder
      await store.load(weights, pretrainedWeights(s.model));
      const forward = await Forward.compile(device, store, graph, [graph.perExample]);
      try {
        return await validationLoss(forward, domains.get("vi"), batch, CONTEXT, Infinity);
      } finally {
        forward.destroy();
        store.destroy();
      }
    };
    const [want16, want32] = [await loss("bf16"), await loss("f32")];
    assert.ok(Number.isFinite(got), `${got}`);
    assert.equal(got, want16);
    assert.notEqual(want16, want32, "bf16 rounding moves the loss (else the test could not tell)");
  } finally {
    await removeOut(out);
  }
});

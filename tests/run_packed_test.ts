/**
 * runPacked() against the same stages run alone: 3 fine-tune variants of the tiny fixture (seed, learning
 * rate, rank) packed on the shared pretrained backbone write the same metrics and weights into their own
 * folders; and the compatibility rules say why a stage cannot join a pack.
 */
import assert from "node:assert/strict";
import { readWeights } from "../src/run/checkpoint.ts";
import { DomainCache } from "../src/compile/domains.ts";
import { runPacked } from "../src/run/packed.ts";
import { compatible, incompatibility, planPacked } from "../src/run/packed_compat.ts";
import { runTrain } from "../src/run/train.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { relError, testDevice } from "./_harness.ts";
import { captureLog, loadFixture, referenceRun, stageFolder } from "./fixtures/helpers.ts";

/** The tiny fixture's fine-tune stage (LoRA dropout 0.1) without mid-run checkpoints, with the variant's settings. */
function variant(base: PipelineSpec, seed: number, lr: number, rank: number): PipelineSpec {
  const ft = base.stages.finetune as TrainStage;
  const stage: TrainStage = {
    ...ft,
    checkpointEvery: undefined,
    adapters: ft.adapters!.map((a) => ({ ...a, rank })),
    optimizer: { ...ft.optimizer, lr },
  };
  return { ...base, seed, stages: { ...base.stages, finetune: stage } };
}

Deno.test("runPacked() writes each variant's run folder with the metrics and weights of the stage run alone", async () => {
  const device = await testDevice();
  if (!device) return;
  const base = await loadFixture("tiny.yaml");
  const pre = `${await referenceRun()}/tiny/${await stageFolder(base, "pretrain")}`;
  const start = readWeights(await Deno.readFile(`${pre}/weights.safetensors`)).weights;
  const specs = [variant(base, 3, 5e-3, 2), variant(base, 4, 2e-3, 3), variant(base, 5, 1e-2, 2)];
  const out = await Deno.makeTempDir({ prefix: "mixtune_packed_" });
  try {
    const dirs = specs.map((_, k) => `${out}/packed-${k}`);
    const alone = specs.map((_, k) => `${out}/alone-${k}`);
    for (const d of [...dirs, ...alone]) await Deno.mkdir(d);
    const log = captureLog();
    const packed = await runPacked(
      device,
      specs.map((spec, k) => ({
        spec,
        name: "finetune",
        dir: dirs[k],
        domains: new DomainCache(spec),
        start,
      })),
      log,
    );
    for (let k = 0; k < specs.length; k++) {
      const spec = specs[k];
      const stage = spec.stages.finetune as TrainStage;
      const ctx = {
        device,
        spec,
        name: "finetune",
        stage,
        dir: alone[k],
        domains: new DomainCache(spec),
        start,
      };
      await ctx.domains.load();
      const r = await runTrain({ ...ctx, resume: false, log });
      for (const [name, w] of r.weights) {
        const err = relError(packed[k].weights.get(name)!, w, 1);
        assert.ok(err <= 3e-6, `variant ${k} ${name}: relative error ${err}`);
      }
      const lines = async (dir: string) =>
        (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n").map((l) => JSON.parse(l))
          .filter((m) => m.type !== "gate");
      const [a, b] = [await lines(dirs[k]), await lines(alone[k])];
      assert.deepEqual(a.map((m) => `${m.type} ${m.step}`), b.map((m) => `${m.type} ${m.step}`));
      const values = (ms: Record<string, unknown>[]) =>
        ms.flatMap((m) =>
          m.type === "train" ? [m.loss as number] : Object.values(m.validationLoss as object)
        );
      const err = relError(values(a), values(b));
      assert.ok(err <= 3e-6, `variant ${k}: metrics relative error ${err}`);
      for (
        const f of ["weights.safetensors", "adapter/adapter_model.safetensors", "summary.json", "spec.json"]
      ) {
        await Deno.stat(`${dirs[k]}/${f}`);
      }
    }
    const summary = JSON.parse(await Deno.readTextFile(`${dirs[1]}/summary.json`));
    assert.deepEqual(summary.packed, { variants: 3, with: dirs });
    assert.deepEqual(summary.tables[0].rows.map((r: unknown[]) => r[0]), ["new", "few"]);
    // the variants differ: not three copies of one run
    const losses = packed.map((r) => (r.summary.metrics as { loss: number }).loss.toFixed(5));
    assert.equal(new Set(losses).size, 3, `${losses}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("runPacked() fails a variant whose weights are not finite, writes no summary for it, finishes the others", async () => {
  const device = await testDevice();
  if (!device) return;
  const base = await loadFixture("tiny.yaml");
  const pre = `${await referenceRun()}/tiny/${await stageFolder(base, "pretrain")}`;
  const start = readWeights(await Deno.readFile(`${pre}/weights.safetensors`)).weights;
  // 4 steps; 1e39 (warm-up halves it at step 1: still infinite in f32) makes variant 2's weights infinite
  const short = (spec: PipelineSpec): PipelineSpec => {
    const ft = { ...spec.stages.finetune as TrainStage, steps: 4, evalEvery: 4 };
    return { ...spec, stages: { ...spec.stages, finetune: ft } };
  };
  const specs = [short(variant(base, 3, 5e-3, 2)), short(variant(base, 4, 1e39, 2))];
  const out = await Deno.makeTempDir({ prefix: "mixtune_packed_" });
  try {
    const dirs = specs.map((_, k) => `${out}/packed-${k}`);
    for (const d of dirs) await Deno.mkdir(d);
    const run = runPacked(
      device,
      specs.map((spec, k) => ({
        spec,
        name: "finetune",
        dir: dirs[k],
        domains: new DomainCache(spec),
        start,
      })),
      captureLog(),
    );
    await assert.rejects(run, {
      name: "StageFailure",
      message: `stage finetune of tiny (variant 2 of 2): the weights or optimiser moments are not finite ` +
        `after step 1; no summary is written, its metrics so far are in ${dirs[1]}`,
    });
    const files = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    // nothing a cache could take for the failed variant; no half-written file anywhere
    assert.deepEqual(await files(dirs[1]), ["metrics.jsonl", "spec.json"]);
    assert.deepEqual(await files(dirs[0]), [
      "adapter",
      "metrics.jsonl",
      "spec.json",
      "summary.json",
      "weights.safetensors",
    ]);
    const summary = JSON.parse(await Deno.readTextFile(`${dirs[0]}/summary.json`));
    assert.ok(summary.wallSeconds > 0 && Number.isFinite(summary.wallSeconds), `${summary.wallSeconds}`);
    assert.ok(
      Object.values(summary.metrics).every((x) => Number.isFinite(x)),
      JSON.stringify(summary.metrics),
    );
    // the failed variant logged nothing past its failure: the steps before it only (none here)
    const lines = (await Deno.readTextFile(`${dirs[1]}/metrics.jsonl`)).trim();
    assert.equal(lines, "");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compatible() and planPacked(): what may differ in a pack and what may not", async () => {
  const base = await loadFixture("tiny.yaml");
  const ref = (spec: PipelineSpec) => ({ spec, name: "finetune" });
  const a = ref(variant(base, 3, 5e-3, 2));
  assert.equal(incompatibility(a, ref(variant(base, 4, 1e-2, 4))), undefined);
  assert.ok(compatible(a, ref(variant(base, 4, 1e-2, 4))));
  const withBatch = variant(base, 3, 5e-3, 2);
  withBatch.stages.finetune = { ...withBatch.stages.finetune as TrainStage, batch: 16 };
  assert.equal(
    incompatibility(a, ref(withBatch)),
    "tiny stages.finetune and tiny stages.finetune differ in batch: 8 vs 16",
  );
  assert.equal(
    incompatibility(a, ref(base)),
    "tiny stages.finetune: checkpoints mid-run, which packed runs do not do",
  );
  const moreDropout = variant(base, 3, 5e-3, 2);
  const ft = moreDropout.stages.finetune as TrainStage;
  moreDropout.stages.finetune = { ...ft, adapters: ft.adapters!.map((x) => ({ ...x, dropout: 0.2 })) };
  assert.equal(
    incompatibility(a, ref(moreDropout)),
    "tiny stages.finetune and tiny stages.finetune differ in LoRA dropout: [0.1] vs [0.2]",
  );
  assert.equal(
    incompatibility(a, { spec: base, name: "pretrain" }),
    "tiny stages.pretrain: trains base parameters patch_embed.weight, patch_embed.bias, pos_embed, " +
      `${"blocks.0.ln1.weight"}, blocks.0.ln1.bias, blocks.0.attn.qkv.weight, blocks.0.attn.qkv.bias, ` +
      "blocks.0.attn.proj.weight, blocks.0.attn.proj.bias, blocks.0.ln2.weight, blocks.0.ln2.bias, " +
      "blocks.0.mlp.fc1.weight, blocks.0.mlp.fc1.bias, blocks.0.mlp.fc2.weight, blocks.0.mlp.fc2.bias, " +
      "norm.weight, norm.bias, feature.weight, feature.bias: a pack shares a frozen backbone",
  );
  const one = planPacked([a]);
  const four = planPacked([a, a, a, a].map((r, k) => ref(variant(r.spec, 3 + k, 5e-3, 2 + k))));
  assert.equal(four.memory.frozen, one.memory.frozen, "the frozen backbone is stored once");
  assert.ok(four.memory.activations > 3 * one.memory.activations, `${four.memory.activations}`);
  // one step of the same dispatches, and one layout copy (`strided`) more: a stacked head's gradient
  const extra = four.kernels.filter((k, i) => k !== one.kernels[i]);
  assert.equal(four.kernels.length, one.kernels.length + 1, `${extra}`);
  assert.equal(
    four.kernels.filter((k) => k === "strided").length,
    one.kernels.filter((k) => k === "strided").length + 1,
  );
});

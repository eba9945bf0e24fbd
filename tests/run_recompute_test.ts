/**
 * Activation recomputation through the pipeline: `recompute` is a boolean (exit 2 otherwise, naming the spec
 * path), the plan shows the step's memory with every activation kept beside it, and a stage that recomputes
 * writes the same weights, bit for bit, as the same stage without it.
 */
import assert from "node:assert/strict";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { bytes, formatPlan } from "../src/cli/format.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { incompatibility } from "../src/run/packed_compat.ts";
import { PipelineError } from "../src/spec/problem.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { parseYaml } from "../src/spec/yaml.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, metricsWithoutTiming, removeOut, stagePath, tempOut } from "./fixtures/helpers.ts";

/** Two stages alike but for `recompute`: a 2-block byte LM, LoRA with dropout on every qkv, 2 micro-batches. */
function yaml(dir: string, recompute: unknown): string {
  const stage = (extra: string) => [
    "    kind: train",
    "    mix: { domains: [words], strategy: temperature }",
    "    adapters: [{ targets: blocks.*.attn.qkv, rank: 2, dropout: 0.2 }]",
    '    trainable: ["lm_head"]',
    "    loss: { kind: lm }",
    "    optimizer: { kind: adamw, lr: 1.0e-2, clip: 0.5 }",
    "    steps: 3",
    "    batch: 4",
    "    accumulate: 2",
    "    logEvery: 1",
    ...(extra ? [extra] : []),
  ];
  return [
    "name: again",
    "seed: 3",
    "domains:",
    `  words: { source: { kind: text, path: ${dir}/words.txt }, transforms: [{ kind: split, validation: 0.2 }] }`,
    "model: { backbone: lm, context: 16, dim: 16, depth: 2, heads: 2, mlpRatio: 2 }",
    "stages:",
    "  plain:",
    ...stage(""),
    "  again:",
    ...stage(`    recompute: ${JSON.stringify(recompute)}`),
    "",
  ].join("\n");
}

async function specOf(dir: string, recompute: unknown): Promise<PipelineSpec> {
  const words = Array.from({ length: 300 }, (_, i) => `word${(i * 37) % 101} `).join("");
  await Deno.writeTextFile(`${dir}/words.txt`, words);
  return validatePipeline(parseYaml(yaml(dir, recompute), "p.yaml").value);
}

Deno.test("recompute is true or false (stages.<name>.recompute), shown in the plan beside the memory kept, and keeps a stage out of packs", async () => {
  const dir = await tempOut();
  try {
    await assert.rejects(() => specOf(dir, "yes"), (e) => {
      assert.ok(e instanceof PipelineError);
      assert.deepEqual(e.problems.map((p) => `${p.path}: ${p.message}`), [
        'stages.again.recompute: expected true or false, found "yes"',
      ]);
      return true;
    });
    const spec = await specOf(dir, true);
    const plan = await planPipeline(spec);
    const [plain, again] = plan.stages;
    assert.deepEqual(again.recomputation!.kept, plain.memory);
    assert.equal(again.recomputation!.keptDispatches, plain.kernels!.length);
    assert.ok(again.kernels!.length > plain.kernels!.length);
    assert.equal(plain.recomputation, undefined);
    assert.ok(again.memory!.activations < plain.memory!.activations, JSON.stringify(again.memory));
    const line = formatPlan(plan).split("\n").find((l) => l.startsWith("activation recomputation"));
    assert.equal(
      line,
      `activation recomputation: activations ${bytes(again.memory!.activations)}, against ${
        bytes(plain.memory!.activations)
      } with every activation kept (${bytes(again.memory!.total)} against ${
        bytes(plain.memory!.total)
      } in all); ${again.kernels!.length} dispatches against ${plain.kernels!.length}`,
    );
    const packable = structuredClone(spec);
    for (const s of Object.values(packable.stages) as TrainStage[]) {
      delete s.accumulate;
      s.trainable = [];
    }
    const ref = (name: string) => ({ spec: packable, name });
    assert.equal(incompatibility(ref("plain"), ref("plain")), undefined);
    assert.equal(
      incompatibility(ref("again"), ref("plain")),
      "again stages.again: recomputes activations, which packed runs do not do",
    );
  } finally {
    await removeOut(dir);
  }
});

Deno.test("a stage that recomputes activations trains to the same bits as one that keeps them", async () => {
  const device = await testDevice();
  if (!device) return;
  const dir = await tempOut();
  try {
    const spec = await specOf(dir, true);
    await runPipeline(spec, { out: dir, log: captureLog() });
    const [plain, again] = [await stagePath(dir, spec, "plain"), await stagePath(dir, spec, "again")];
    const a = await metricsWithoutTiming(`${again}/metrics.jsonl`);
    assert.deepEqual(a.map((m) => `${m.type} ${m.step}`), ["train 1", "train 2", "train 3", "eval 3"]);
    assert.deepEqual(a, await metricsWithoutTiming(`${plain}/metrics.jsonl`));
    for (const file of ["weights.safetensors", "adapter/adapter_model.safetensors"]) {
      assert.deepEqual(
        await Deno.readFile(`${again}/${file}`),
        await Deno.readFile(`${plain}/${file}`),
        file,
      );
    }
  } finally {
    await removeOut(dir);
  }
});

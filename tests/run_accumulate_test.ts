/**
 * Gradient accumulation through the pipeline: the spec refuses counts that do not split the batch (exit 2,
 * naming the spec path), the plan shows the step's memory with and without accumulation, and a stage that
 * accumulates trains as the same stage without it does, on supervised examples whose prompts are labels of -1.
 */
import assert from "node:assert/strict";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { bytes, formatPlan } from "../src/cli/format.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { PipelineError } from "../src/spec/problem.ts";
import type { PipelineSpec, TrainStage } from "../src/spec/types.ts";
import { hashSpec } from "../src/spec/hash.ts";
import { incompatibility } from "../src/run/packed_compat.ts";
import { adamw, jsonl, lm, lmLoss, pipeline, split, temperature, train } from "../mod.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { parseYaml } from "../src/spec/yaml.ts";
import { relError, testDevice } from "./_harness.ts";
import { captureLog, cli, metricsWithoutTiming, removeOut, stagePath, tempOut } from "./fixtures/helpers.ts";

/** Prompt/completion pairs of many lengths: each window of `pad` packing counts another number of targets. */
function examples(): string {
  const lines: string[] = [];
  for (let i = 0; i < 48; i++) {
    const prompt = "q".repeat(1 + (i * 7) % 11) + ` ${i}?`;
    const completion = " " + "ab".repeat(1 + (i * 5) % 6);
    lines.push(JSON.stringify({ prompt, completion }));
  }
  return lines.join("\n") + "\n";
}

/** Two train stages alike but for `accumulate` (both from the seed's initial weights, every weight trained). */
function yaml(dir: string, accumulate: unknown): string {
  const stage = (extra: string) => [
    "    kind: train",
    "    mix: { domains: [qa], strategy: temperature }",
    "    loss: { kind: lm }",
    "    optimizer: { kind: adamw, lr: 1.0e-2, clip: 0.5 }",
    "    steps: 3",
    "    batch: 4",
    "    logEvery: 1",
    ...(extra ? [extra] : []),
  ];
  return [
    "name: accum",
    "seed: 2",
    "domains:",
    `  qa: { source: { kind: jsonl, path: ${dir}/qa.jsonl, packing: pad }, transforms: [{ kind: split, validation: 0.25 }] }`,
    "model: { backbone: lm, context: 24, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }",
    "stages:",
    "  plain:",
    ...stage(""),
    "  micro:",
    ...stage(`    accumulate: ${JSON.stringify(accumulate)}`),
    "",
  ].join("\n");
}

async function specOf(dir: string, accumulate: unknown): Promise<PipelineSpec> {
  await Deno.writeTextFile(`${dir}/qa.jsonl`, examples());
  return validatePipeline(parseYaml(yaml(dir, accumulate), "p.yaml").value);
}

Deno.test("accumulate must be an integer >= 1 that divides the batch: each problem names stages.<name>.accumulate, exit 2", async () => {
  const dir = await tempOut();
  try {
    const problems = async (value: unknown) => {
      try {
        await specOf(dir, value);
      } catch (e) {
        assert.ok(e instanceof PipelineError, String(e));
        return e.problems.map((p) => `${p.path}: ${p.message}`);
      }
      return [];
    };
    assert.deepEqual(await problems(3), [
      "stages.micro.accumulate: expected a factor that divides batch (4), found 3",
    ]);
    assert.deepEqual(await problems(0), ["stages.micro.accumulate: expected an integer >= 1, found 0"]);
    assert.deepEqual(await problems(1.5), ["stages.micro.accumulate: expected an integer >= 1, found 1.5"]);
    assert.deepEqual(await problems("2"), ['stages.micro.accumulate: expected an integer >= 1, found "2"']);
    assert.deepEqual(await problems(4), []);
    await Deno.writeTextFile(`${dir}/p.yaml`, yaml(dir, 8));
    const r = await cli([`${dir}/p.yaml`, "--plan"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr,
      `${dir}/p.yaml:23:5 stages.micro.accumulate: expected a factor that divides batch (4), found 8\n`,
    );
  } finally {
    await removeOut(dir);
  }
});

Deno.test("the plan shows an accumulating step's memory and that of the whole batch at once", async () => {
  const dir = await tempOut();
  try {
    const spec = await specOf(dir, 4);
    const plan = await planPipeline(spec);
    const [plain, micro] = plan.stages;
    const a = micro.accumulation!;
    assert.equal(a.microBatches, 4);
    assert.equal(a.microBatch, 1);
    // the whole batch at once is the plain stage's step, planned the same way
    assert.deepEqual(a.unaccumulated, plain.memory);
    assert.equal(a.overLimit, undefined);
    assert.ok(micro.memory!.activations < plain.memory!.activations / 2, JSON.stringify(micro.memory));
    // one more buffer of the trainable weights' size: each micro-batch's gradients beside their sum
    assert.equal(micro.memory!.trainableState, plain.memory!.trainableState * 5 / 4);
    assert.equal(plain.accumulation, undefined);
    const line = formatPlan(plan).split("\n").find((l) => l.startsWith("gradient accumulation"));
    assert.equal(
      line,
      `gradient accumulation: 4 micro-batches of 1 example a step: activations ${
        bytes(micro.memory!.activations)
      }, against ${bytes(plain.memory!.activations)} for the whole batch at once (${
        bytes(micro.memory!.total)
      } against ${bytes(plain.memory!.total)} in all)`,
    );
    assert.ok(micro.kernels!.includes("grad_accumulate"));
    // the prompts are labels of -1: fewer trained tokens than tokens
    const packing = plain.sampling!.domains[0].packing!;
    assert.ok(packing.trainedTokens < packing.tokens / 2, JSON.stringify(packing));
  } finally {
    await removeOut(dir);
  }
});

Deno.test("a stage accumulating 2 micro-batches of 2 trains as the same stage at batch 4: losses, validation, weights", async () => {
  const device = await testDevice();
  if (!device) return;
  const dir = await tempOut();
  try {
    const spec = await specOf(dir, 2);
    await runPipeline(spec, { out: dir, log: captureLog() });
    const [plain, micro] = [await stagePath(dir, spec, "plain"), await stagePath(dir, spec, "micro")];
    const a = await metricsWithoutTiming(`${micro}/metrics.jsonl`);
    const b = await metricsWithoutTiming(`${plain}/metrics.jsonl`);
    assert.deepEqual(a.map((m) => `${m.type} ${m.step}`), ["train 1", "train 2", "train 3", "eval 3"]);
    assert.deepEqual(b.map((m) => `${m.type} ${m.step}`), a.map((m) => `${m.type} ${m.step}`));
    // f32 sums in another order: the first step's loss to 2e-6; later steps start from weights that differ
    // at float32 rounding, and so does the validation after them (1e-5)
    a.forEach((m, i) => {
      const [x, y] = m.type === "train" ? [m.loss as number, b[i].loss as number] : [
        (m.validationLoss as Record<string, number>).qa,
        (b[i].validationLoss as Record<string, number>).qa,
      ];
      assert.ok(Number.isFinite(x) && x > 0, `${m.type} ${m.step}: ${x}`);
      assert.ok(relError([x], [y]) <= (i === 0 ? 2e-6 : 1e-5), `${m.type} ${m.step}: ${x} vs ${y}`);
    });
    const wa = readSafetensors(await Deno.readFile(`${micro}/weights.safetensors`)).tensors;
    const wb = readSafetensors(await Deno.readFile(`${plain}/weights.safetensors`)).tensors;
    assert.deepEqual(Object.keys(wa), Object.keys(wb));
    for (const [name, t] of Object.entries(wa)) {
      let [x, y] = [t.data, wb[name].data];
      if (name === "blocks.0.attn.qkv.bias") {
        // The key bias adds q.b to every score of a query, which softmax ignores: its gradient is 0 but for
        // float32 rounding, which AdamW's normalised update turns into steps of random sign. It stays far
        // below the other biases (1e-2 after three steps of lr 1e-2) in both runs; the query and value
        // thirds are compared.
        const key = (w: Float32Array) => w.subarray(16, 32);
        for (const w of [x, y]) assert.ok(key(w).every((v) => Math.abs(v) < 1e-3), `key bias ${key(w)}`);
        [x, y] = [x, y].map((w) => Float32Array.of(...w.subarray(0, 16), ...w.subarray(32)));
      }
      const err = relError(x, y);
      // three AdamW steps from weights that agree at float32 rounding (largest seen: 2.2e-5, mlp.fc1.weight)
      assert.ok(err <= 1e-4, `${name}: relative error ${err}`);
    }
  } finally {
    await removeOut(dir);
  }
});

Deno.test("train({ accumulate }) builds the spec the YAML gives, and packed runs leave an accumulating stage out", async () => {
  const dir = await tempOut();
  try {
    const fromYaml = await specOf(dir, 2);
    const stage = (accumulate?: number) =>
      train({
        mix: temperature(["qa"]),
        loss: lmLoss(),
        optimizer: adamw({ lr: 1e-2, clip: 0.5 }),
        steps: 3,
        batch: 4,
        logEvery: 1,
        ...(accumulate ? { accumulate } : {}),
      });
    const built = pipeline("accum").seed(2)
      .domain("qa", jsonl(`${dir}/qa.jsonl`, { packing: "pad" }), split(0.25))
      .model(lm({ context: 24, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }))
      .stage("plain", stage())
      .stage("micro", stage(2))
      .build();
    assert.equal(await hashSpec(validatePipeline(built)), await hashSpec(fromYaml));
    // LoRA stages that could otherwise share a pack
    const lora = (accumulate: number) => {
      const s = structuredClone(fromYaml);
      const micro = s.stages.micro as TrainStage;
      micro.adapters = [{ targets: "blocks.0.attn.qkv", rank: 2 }];
      micro.trainable = [];
      micro.accumulate = accumulate;
      return s;
    };
    assert.equal(
      incompatibility({ spec: lora(1), name: "micro" }, { spec: lora(1), name: "micro" }),
      undefined,
    );
    assert.equal(
      incompatibility({ spec: lora(2), name: "micro" }, { spec: lora(1), name: "micro" }),
      "accum stages.micro: accumulates gradients over micro-batches, which packed runs do not do",
    );
  } finally {
    await removeOut(dir);
  }
});

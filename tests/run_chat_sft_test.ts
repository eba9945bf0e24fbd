/**
 * Instruction tuning end to end: a tiny Qwen2-shaped checkpoint with Qwen3's real tokenizer (151,669 ids)
 * LoRA-tuned on a JSONL chat domain through the CLI, then evaluated. The first step's loss and the evaluate
 * stage's validation loss are checked against a float64 PyTorch forward pass over the same windows, counting
 * response tokens only; the plan shows the domain's examples and trained tokens; exact match is scored.
 */
import assert from "node:assert/strict";
import { loadDomain } from "../src/compile/domains.ts";
import { mixStrategy } from "../src/compile/stage_setup.ts";
import { domainSizes, IGNORE_LABEL, Sampler, textBatch, textValidationBatches } from "../src/data/mod.ts";
import type { TextDomain } from "../src/data/domain.ts";
import { loadTokenizer } from "../src/data/tokenizer.ts";
import type { TrainStage } from "../src/spec/types.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { testDevice } from "./_harness.ts";
import { torchStatus } from "./_hf_reference.ts";
import { cli, removeOut, stagePath, tempOut } from "./fixtures/helpers.ts";
import { qwen3Dir } from "./fixtures/real_tokenizers.ts";
import { writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";

const qwen = loadTokenizer(qwen3Dir());
const CONFIG: Record<string, unknown> = {
  model_type: "qwen2",
  architectures: ["Qwen2ForCausalLM"],
  vocab_size: qwen.vocabSize,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
};
const PYTHON = "/usr/bin/python3";
const REFERENCE = new URL("./fixtures/sft_loss_reference.py", import.meta.url).pathname;

function yaml(dir: string): string {
  return [
    "name: sft",
    "seed: 3",
    "domains:",
    `  math: { source: { kind: jsonl, path: ${dir}/chat.jsonl, tokenizer: ${qwen3Dir()} },` +
    " transforms: [{ kind: split, validation: 0.25 }] }",
    `model: { pretrained: ${dir}/qwen2, context: 32 }`,
    "stages:",
    "  tune:",
    "    kind: train",
    "    mix: { domains: [math], strategy: temperature }",
    '    adapters: [{ targets: ["model.layers.*.self_attn.q_proj", "model.layers.*.self_attn.v_proj"], rank: 2 }]',
    "    loss: { kind: lm }",
    "    optimizer: { kind: adamw, lr: 1.0e-2 }",
    "    steps: 3",
    "    batch: 2",
    "    logEvery: 1",
    "  check:",
    "    kind: evaluate",
    "    from: tune",
    "    tasks: [validation_loss, perplexity, exact_match]",
    "    exactMatch: { maxNewTokens: 4, examples: 3 }",
    "",
  ].join("\n");
}

async function reference(
  input: unknown,
  dir: string,
): Promise<{ batches: { loss: number }[]; tokens: number; rowMean: number }> {
  await Deno.writeTextFile(`${dir}/ref.json`, JSON.stringify(input));
  const out = await new Deno.Command(PYTHON, {
    args: [REFERENCE, `${dir}/ref.json`],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new Error(`${REFERENCE} failed:\n${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const ignore = torchStatus.missing !== null && !torchStatus.ci;
if (ignore) console.warn(`chat SFT reference test ignored: ${torchStatus.missing}`);

Deno.test({
  name:
    "LoRA on chat data through the CLI: first-step loss and validation loss over response tokens equal float64",
  ignore,
  fn: async () => {
    const device = await testDevice();
    if (!device) return;
    const out = await tempOut();
    try {
      await writeTinyCheckpoint(`${out}/qwen2`, CONFIG, 5);
      const lines = Array.from({ length: 24 }, (_, i) =>
        JSON.stringify({
          messages: [
            { role: "user", content: `What is ${i} + ${i % 7}?` },
            {
              role: "assistant",
              content: i % 2 ? `${i + (i % 7)}` : `The sum of ${i} and ${i % 7} is ${i + (i % 7)}.`,
            },
          ],
        }));
      await Deno.writeTextFile(`${out}/chat.jsonl`, lines.join("\n") + "\n");
      await Deno.writeTextFile(`${out}/sft.yaml`, yaml(out));

      const plan = await cli([`${out}/sft.yaml`, "--plan", "--json", "--out", out]);
      assert.equal(plan.code, 0, plan.stderr);
      const packing = JSON.parse(plan.stdout).stages[0].sampling.domains[0].packing;
      assert.equal(packing.examples, 18);
      assert.ok(packing.trainedTokens > 0 && packing.trainedTokens < packing.tokens, JSON.stringify(packing));

      const run = await cli([`${out}/sft.yaml`, "--out", out]);
      assert.equal(run.code, 0, run.stderr);

      const spec = validatePipeline(
        (await import("../src/spec/yaml.ts")).loadPipelineYaml(
          await Deno.readTextFile(`${out}/sft.yaml`),
          "sft.yaml",
        ),
      );
      const tuneDir = await stagePath(out, spec, "tune");
      const train = (await Deno.readTextFile(`${tuneDir}/metrics.jsonl`)).split("\n").filter((l) => l)
        .map((l) => JSON.parse(l)).filter((l) => l.type === "train");
      assert.equal(train.length, 3);
      assert.ok(train.every((l) => Number.isFinite(l.loss)), JSON.stringify(train.map((l) => l.loss)));

      // the first batch, drawn as the run draws it; its targets are -1 off the response tokens
      const domain = await loadDomain("math", spec.domains.math, spec) as TextDomain;
      assert.equal(domain.packing!.train.trainedTokens, packing.trainedTokens);
      const stage = spec.stages.tune as TrainStage;
      const sampler = new Sampler({
        sizes: domainSizes([domain], 32),
        strategy: mixStrategy(stage.mix, stage.steps, stage.batch),
        steps: stage.steps,
        seed: spec.seed,
      });
      const batch = textBatch([domain], sampler.next(stage.batch, 0), 32);
      const counted = batch.targets.filter((t) => t !== IGNORE_LABEL).length;
      assert.ok(
        counted > 0 && counted < batch.targets.length / 2,
        `${counted} of ${batch.targets.length} counted`,
      );
      const rows = (a: Float32Array) =>
        Array.from({ length: stage.batch }, (_, b) => [...a.subarray(b * 32, b * 32 + 32)]);
      // LoRA B starts at zero: the first step's forward pass is the checkpoint's
      const first = await reference({
        config: CONFIG,
        weights: `${out}/qwen2/model.safetensors`,
        batches: [{ x: rows(batch.tokens), labels: rows(batch.targets), weights: [...batch.weight] }],
      }, out);
      const want = first.batches[0].loss;
      assert.ok(
        Math.abs(train[0].loss - want) <= 2e-6 * Math.abs(want),
        `step 1 loss ${train[0].loss} vs float64 ${want}`,
      );

      // the evaluate stage: the mean over every response token of the validation windows, tuned weights
      const checkDir = await stagePath(out, spec, "check");
      const summary = JSON.parse(await Deno.readTextFile(`${checkDir}/summary.json`));
      const metrics = summary.metrics as Record<string, number>;
      const windows = [...textValidationBatches(domain.validation, 32, 64, domain.validationMask)];
      const tuned = await reference({
        config: CONFIG,
        // the stage's file holds what it trained (LoRA); the frozen base stays in the checkpoint
        weights: [`${out}/qwen2/model.safetensors`, `${tuneDir}/weights.safetensors`],
        scale: 1,
        batches: windows.map((w) => ({
          x: rows2(w.tokens, w.rows),
          labels: rows2(w.targets, w.rows),
          weights: new Array(w.rows).fill(1),
        })),
      }, out);
      const loss = metrics["validation_loss/math"];
      // windows hold different numbers of response tokens: the mean of window means is another number
      assert.ok(
        Math.abs(tuned.rowMean - tuned.tokens) > 1e-4 * tuned.tokens,
        `${tuned.rowMean} ${tuned.tokens}`,
      );
      assert.ok(
        Math.abs(loss - tuned.tokens) <= 2e-6 * tuned.tokens,
        `validation loss ${loss} vs float64 ${tuned.tokens}`,
      );
      assert.equal(metrics["perplexity/math"], Math.exp(loss));
      // three steps of a random 16-wide model reproduce no answer
      assert.equal(metrics["exact_match/math"], 0);
      const table = summary.tables.find((t: { title: string }) => /exact match/.test(t.title));
      assert.deepEqual(table.rows, [["math", 3, 0, 0]]);
      // the responses beside the score: the first three held-out chats' answers (the file's last six are held
      // out), after the template's empty reasoning block, and what the model generated instead
      const samples = summary.tables.find((t: { title: string }) => /held-out responses/.test(t.title));
      assert.deepEqual(samples.columns, ["domain", "reference", "generated", "match"]);
      const answers = ["The sum of 18 and 4 is 22.", "24", "The sum of 20 and 6 is 26."];
      assert.equal(samples.rows.length, 3);
      samples.rows.forEach(([domain, reference, generated, match]: string[], i: number) => {
        assert.equal(domain, "math");
        assert.ok(JSON.parse(reference).endsWith(answers[i]), reference);
        assert.notEqual(JSON.parse(generated), JSON.parse(reference));
        assert.equal(match, "no");
      });
    } finally {
      await removeOut(out);
    }
  },
});

function rows2(a: Float32Array, n: number): number[][] {
  return Array.from({ length: n }, (_, b) => [...a.subarray(b * 32, b * 32 + 32)]);
}

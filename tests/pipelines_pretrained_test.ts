/**
 * A pretrained checkpoint folder in a pipeline: YAML and builder give the same spec, problems with the folder
 * exit 2 naming the YAML position and the file, the plan counts the frozen weights, and a short LoRA run
 * on GPT-2's c_attn trains the adapter only.
 */
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
import { main as mergeMain } from "../src/cli/merge.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { loadPipelineYaml } from "../src/spec/yaml.ts";
import { stageHash } from "../src/spec/hash.ts";
import { VERSION } from "../src/version.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { captureLog, cli, removeOut, tempOut } from "./fixtures/helpers.ts";
import { TINY_GPT2, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { testDevice } from "./_harness.ts";

function spec(dir: string, steps = 4) {
  return pipeline("pre")
    .seed(2)
    .domain("vi", dictionary("vi"), split(0.1))
    .model(pretrained(dir, { context: 8 }))
    .stage(
      "tune",
      train({
        mix: temperature(["vi"]),
        adapters: [lora("transformer.h.*.attn.c_attn", { rank: 2 })],
        loss: lmLoss(),
        optimizer: adamw({ lr: 1e-2 }),
        steps,
        batch: 4,
      }),
    )
    .stage("check", evaluate({ from: "tune", tasks: ["validation_loss", "perplexity"] }))
    .build();
}

function yaml(dir: string, model = `{ pretrained: ${dir}, context: 8 }`): string {
  return [
    "name: pre",
    "seed: 2",
    "domains:",
    "  vi: { source: { kind: dictionary, language: vi }, transforms: [{ kind: split, validation: 0.1 }] }",
    `model: ${model}`,
    "stages:",
    "  tune:",
    "    kind: train",
    "    mix: { domains: [vi], strategy: temperature }",
    '    adapters: [{ targets: ["transformer.h.*.attn.c_attn"], rank: 2 }]',
    "    loss: { kind: lm }",
    "    optimizer: { kind: adamw, lr: 1.0e-2 }",
    "    steps: 4",
    "    batch: 4",
    "  check: { kind: evaluate, from: tune, tasks: [validation_loss, perplexity] }",
    "",
  ].join("\n");
}

Deno.test("pretrained() and YAML model: { pretrained } give one spec; the plan counts the frozen weights", async () => {
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/gpt2`);
    const built = spec(`${out}/gpt2`);
    assert.deepEqual(built.model, { backbone: "pretrained", pretrained: `${out}/gpt2`, context: 8 });
    await Deno.writeTextFile(`${out}/p.yaml`, yaml(`${out}/gpt2`));
    const fromYaml = loadPipelineYaml(await Deno.readTextFile(`${out}/p.yaml`), "p.yaml");
    assert.deepEqual(fromYaml.model, built.model);
    const plan = await planPipeline(built);
    assert.deepEqual(plan.checkpoint, {
      dir: `${out}/gpt2`,
      modelType: "gpt2",
      weights: 7664,
      stored: { F32: 7664 },
    });
    const tune = plan.stages.find((s) => s.name === "tune")!;
    // 256 x 16 wte + 16 x 16 wpe + 2 x 32 ln + (16 x 48 + 48) + (16 x 16 + 16) + (16 x 64 + 64) + (64 x 16 + 16)
    // + 32 ln_f = 7,664; LoRA rank 2 on c_attn: 2 x (16 + 48) = 128
    assert.deepEqual(tune.params, { total: 7664 + 128, trainable: 128, share: 128 / (7664 + 128) });
    assert.deepEqual(tune.adapters?.[0].modules, ["transformer.h.0.attn.c_attn"]);
    assert.ok(tune.memory!.frozen >= 7664 * 4, `frozen bytes ${tune.memory!.frozen}`);
  } finally {
    await removeOut(out);
  }
});

Deno.test("the CLI exits 2 naming the YAML position and the checkpoint file for a bad pretrained folder", async () => {
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/gpt2`);
    const file = `${out}/p.yaml`;
    const cases: [string, string][] = [
      [
        `{ pretrained: ${out}/none, context: 8 }`,
        `${file}:5:10 model.pretrained: ${out}/none: checkpoint folder not found`,
      ],
      [
        `{ pretrained: ${out}/gpt2, context: 32 }`,
        `${file}:5:${
          24 + out.length + 5
        } model.context: ${out}/gpt2/config.json: context 32 exceeds the model's 16 positions`,
      ],
    ];
    for (const [model, line] of cases) {
      await Deno.writeTextFile(file, yaml(`${out}/gpt2`, model));
      const r = await cli([file, "--plan"]);
      assert.deepEqual(r, { code: 2, stdout: "", stderr: line + "\n" });
    }
    await writeTinyCheckpoint(`${out}/small`, { ...TINY_GPT2, vocab_size: 100 });
    await Deno.writeTextFile(file, yaml(`${out}/small`));
    const small = await cli([file, "--plan"]);
    assert.equal(small.code, 2);
    assert.equal(
      small.stderr,
      `${file}:5:10 model.pretrained: ${out}/small/config.json: vocab_size 100 is below 256; text domains are byte ids 0-255\n`,
    );
    const bytes = await Deno.readFile(`${out}/gpt2/model.safetensors`);
    await Deno.writeFile(`${out}/gpt2/model.safetensors`, bytes.subarray(0, bytes.length - 4));
    await Deno.writeTextFile(file, yaml(`${out}/gpt2`));
    const truncated = await cli([file, "--plan"]);
    assert.equal(truncated.code, 2);
    assert.match(
      truncated.stderr,
      new RegExp(`^${file}:5:10 model.pretrained: ${out}/gpt2/model.safetensors: file is truncated: .*\n$`),
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("a LoRA stage on a pretrained GPT-2 trains the adapter and leaves the checkpoint's weights as they were", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/gpt2`);
    const result = await runPipeline(spec(`${out}/gpt2`), { out, log: captureLog() });
    const dir = `${result.root}/${result.stages[0].dir}`;
    const lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).split("\n").filter((l) => l).map((l) =>
      JSON.parse(l)
    );
    const losses = lines.filter((l) => l.type === "train").map((l) => l.loss as number);
    assert.ok(losses.length > 0 && losses.every(Number.isFinite), `losses ${losses}`);
    // the checkpoint's frozen weights stay in its folder: the stage's file holds the LoRA weights and names it
    const saved = readSafetensors(await Deno.readFile(`${dir}/weights.safetensors`));
    const { tensors } = saved;
    assert.deepEqual(Object.keys(tensors).filter((n) => !/\.lora_[AB]\.weight$/.test(n)), []);
    assert.equal(saved.metadata.mixtune_base, `${out}/gpt2`);
    const B = tensors["transformer.h.0.attn.c_attn.lora_B.weight"];
    assert.ok(B.data.some((v) => v !== 0), "lora_B moved from zero");
    // deno task merge writes the stage back in GPT-2's layout: untouched tensors bit for bit, c_attn merged
    const log = console.log;
    console.log = () => {};
    try {
      assert.equal(await mergeMain([dir, "--out", `${out}/merged`]), 0);
    } finally {
      console.log = log;
    }
    const before = readSafetensors(await Deno.readFile(`${out}/gpt2/model.safetensors`)).tensors;
    const after = readSafetensors(await Deno.readFile(`${out}/merged/model.safetensors`)).tensors;
    assert.deepEqual(Object.keys(after).sort(), Object.keys(before).sort());
    for (const [k, t] of Object.entries(before)) {
      if (k !== "transformer.h.0.attn.c_attn.weight") assert.deepEqual(after[k], t, k);
    }
    assert.deepEqual(after["transformer.h.0.attn.c_attn.weight"].shape, [16, 48]);
    assert.notDeepEqual(
      after["transformer.h.0.attn.c_attn.weight"].data,
      before["transformer.h.0.attn.c_attn.weight"].data,
    );
    const metrics = result.stages[1].summary.metrics as Record<string, number>;
    assert.ok(Number.isFinite(metrics["validation_loss/vi"]), `${metrics["validation_loss/vi"]}`);
    assert.equal(metrics["perplexity/vi"], Math.exp(metrics["validation_loss/vi"]));
  } finally {
    await removeOut(out);
  }
});

Deno.test("a stage's hash changes when its checkpoint's files are rewritten, not only when the path does", async () => {
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/gpt2`);
    const s = spec(`${out}/gpt2`);
    const before = await stageHash(s, "tune", VERSION);
    assert.equal(await stageHash(s, "tune", VERSION), before);
    await Deno.utime(`${out}/gpt2/model.safetensors`, new Date(2020, 0, 1), new Date(2020, 0, 1));
    assert.notEqual(await stageHash(s, "tune", VERSION), before);
  } finally {
    await removeOut(out);
  }
});

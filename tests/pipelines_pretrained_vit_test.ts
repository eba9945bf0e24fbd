/**
 * A Hugging Face ViT checkpoint in a pipeline: YAML and builder give one spec, the plan says `classifier` is
 * not used, bad settings exit 2 naming the YAML position and the file, and a few LoRA steps on `query` and
 * `value` over MNIST write a PEFT adapter that `deno task merge` folds back into the Hugging Face layout.
 */
import assert from "node:assert/strict";
import {
  adamw,
  cosface,
  evaluate,
  lora,
  mnist,
  pipeline,
  pretrained,
  split,
  take,
  temperature,
  train,
} from "../mod.ts";
import { PEFT_CONFIG_FILE, PEFT_MODEL_FILE } from "../src/adapters/peft.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { main as mergeMain } from "../src/cli/merge.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { evaluate as evaluate64 } from "../src/graph/cpu.ts";
import type { Node } from "../src/graph/node.ts";
import type { VitArch } from "../src/models/pretrained/arch.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { buildVit } from "../src/models/pretrained/vit_graph.ts";
import { loadPipelineYaml } from "../src/spec/yaml.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { captureLog, cli, removeOut, tempOut } from "./fixtures/helpers.ts";
import { TINY_VIT, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

const QUERY = "vit.encoder.layer.0.attention.attention.query";
const VALUE = "vit.encoder.layer.0.attention.attention.value";

function spec(dir: string, frozenDtype?: "f32" | "f16") {
  return pipeline("vit")
    .seed(4)
    .domain("digits", mnist(), take(40), split(0.2))
    .model(pretrained(dir, { classes: 10 }))
    .stage(
      "tune",
      train({
        mix: temperature(["digits"]),
        adapters: [lora(["query", "value"], { rank: 2 })],
        trainable: ["head"],
        loss: cosface({ scale: 16, margin: 0.2 }),
        optimizer: adamw({ lr: 1e-2 }),
        steps: 3,
        batch: 4,
        ...(frozenDtype ? { frozenDtype } : {}),
      }),
    )
    .stage("check", evaluate({ from: "tune", tasks: ["validation_loss"] }))
    .build();
}

function yaml(dir: string, model = `{ pretrained: ${dir}, classes: 10 }`): string {
  return [
    "name: vit",
    "seed: 4",
    "domains:",
    "  digits: { source: { kind: mnist }, transforms: [{ kind: take, count: 40 }, { kind: split, validation: 0.2 }] }",
    `model: ${model}`,
    "stages:",
    "  tune:",
    "    kind: train",
    "    mix: { domains: [digits], strategy: temperature }",
    "    adapters: [{ targets: [query, value], rank: 2 }]",
    "    trainable: [head]",
    "    loss: { kind: cosface, scale: 16, margin: 0.2 }",
    "    optimizer: { kind: adamw, lr: 1.0e-2 }",
    "    steps: 3",
    "    batch: 4",
    "  check: { kind: evaluate, from: tune, tasks: [validation_loss] }",
    "",
  ].join("\n");
}

Deno.test("pretrained(dir, { classes }) and YAML give one spec for a ViT; the plan says classifier is not used", async () => {
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/vit`, TINY_VIT);
    const built = spec(`${out}/vit`);
    assert.deepEqual(built.model, { backbone: "pretrained", pretrained: `${out}/vit`, classes: 10 });
    await Deno.writeTextFile(`${out}/p.yaml`, yaml(`${out}/vit`));
    assert.deepEqual(loadPipelineYaml(await Deno.readTextFile(`${out}/p.yaml`), "p.yaml"), built);
    const plan = await planPipeline(built);
    // (16 x 3 x 7 x 7 + 16) projection + 16 cls + 17 x 16 positions + 3 x 32 norms + 4 x (16 x 16 + 16)
    // attention + (16 x 32 + 32) + (32 x 16 + 16) MLP + (10 x 16 + 10) classifier = 5,082
    assert.deepEqual(plan.checkpoint, {
      dir: `${out}/vit`,
      modelType: "vit",
      weights: 5082,
      stored: { F32: 5082 },
      unused: ["classifier (10 classes): the pipeline's cosine head replaces it"],
      images:
        "28 px as read; pixels as the domain gives them, no normalisation (no preprocessor_config.json); replicated over 3 channels",
    });
    const tune = plan.stages.find((s) => s.name === "tune")!;
    assert.deepEqual(tune.adapters?.[0].modules, [QUERY, VALUE]);
    // the backbone without classifier (4,912) and the 10 x 16 head; LoRA rank 2 on two 16 x 16: 128
    assert.deepEqual(tune.params, { total: 4912 + 160 + 128, trainable: 160 + 128, share: 288 / 5200 });
  } finally {
    await removeOut(out);
  }
});

Deno.test("the CLI exits 2 naming the YAML position and the file for a ViT checkpoint that does not fit", async () => {
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/vit`, TINY_VIT);
    await writeTinyCheckpoint(`${out}/vit32`, { ...TINY_VIT, image_size: 32, patch_size: 8 });
    await writeTinyCheckpoint(`${out}/relu`, TINY_VIT);
    await Deno.writeTextFile(`${out}/relu/config.json`, JSON.stringify({ ...TINY_VIT, hidden_act: "relu" }));
    const file = `${out}/p.yaml`;
    const cases: [string, string][] = [
      [
        `{ pretrained: ${out}/vit, context: 8 }`,
        `${file}:5:1 model.classes: expected an integer >= 1, found nothing\n` +
        `${file}:5:${
          out.length + 28
        } model.context: not used by a vit checkpoint (${out}/vit/config.json); remove context`,
      ],
      [
        `{ pretrained: ${out}/vit32, classes: 10 }`,
        `${file}:4:23 domains.digits.source.kind: ${out}/vit32/config.json: image_size 32 differs from the 28-pixel images of "mnist"; to resize them, add a preprocessor_config.json with "do_resize": true beside it`,
      ],
      [
        `{ pretrained: ${out}/relu, classes: 10 }`,
        `${file}:5:10 model.pretrained: ${out}/relu/config.json: hidden_act "relu" is not supported (expected one of gelu, gelu_new, gelu_pytorch_tanh)`,
      ],
    ];
    for (const [model, line] of cases) {
      await Deno.writeTextFile(file, yaml(`${out}/vit`, model));
      const r = await cli([file, "--plan"]);
      assert.deepEqual(r, { code: 2, stdout: "", stderr: line + "\n" });
    }
  } finally {
    await removeOut(out);
  }
});

Deno.test("a LoRA stage on a pretrained ViT writes a PEFT adapter that merge folds back with the same features", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/vit`, TINY_VIT);
    const log = captureLog();
    const result = await runPipeline(spec(`${out}/vit`), { out, log });
    assert.ok(
      log.lines.includes("tune: classifier (10 classes) not used: the pipeline's cosine head replaces it"),
    );
    const dir = `${result.root}/${result.stages[0].dir}`;
    const metrics = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).split("\n").filter((l) => l).map((l) =>
      JSON.parse(l)
    );
    const losses = metrics.filter((l) => l.type === "train").map((l) => l.loss as number);
    assert.ok(losses.length > 0 && losses.every(Number.isFinite), `losses ${losses}`);

    const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter/${PEFT_CONFIG_FILE}`));
    assert.equal(config.peft_type, "LORA");
    assert.equal(config.base_model_name_or_path, `${out}/vit`);
    assert.equal(config.task_type, null);
    assert.deepEqual(config.target_modules, [QUERY, VALUE]);
    assert.deepEqual(config.modules_to_save, ["head"]);
    const adapter = readSafetensors(await Deno.readFile(`${dir}/adapter/${PEFT_MODEL_FILE}`)).tensors;
    assert.deepEqual(Object.keys(adapter).sort(), [
      "base_model.model.head.weight",
      ...[QUERY, VALUE].flatMap((
        p,
      ) => [`base_model.model.${p}.lora_A.weight`, `base_model.model.${p}.lora_B.weight`]),
    ]);
    assert.ok(adapter[`base_model.model.${VALUE}.lora_B.weight`].data.some((v) => v !== 0), "lora_B moved");

    const quiet = console.log;
    console.log = () => {};
    try {
      assert.equal(await mergeMain([dir, "--out", `${out}/merged`]), 0);
    } finally {
      console.log = quiet;
    }
    const base = readPretrained(`${out}/vit`);
    const merged = readPretrained(`${out}/merged`);
    assert.deepEqual(merged.weights.get("classifier.weight"), base.weights.get("classifier.weight"));
    // the merged checkpoint's CLS features equal the base's with the trained LoRA, in float64
    const arch = base.arch as VitArch;
    const images = randoms(2 * 28 * 28, 5, 0, 1);
    const features = (weights: Map<string, Float32Array>, lora: boolean) => {
      const scale = config.lora_alpha / config.r;
      const placements = lora ? [QUERY, VALUE].map((path) => ({ path, rank: 2, scale, gated: false })) : [];
      const g = buildVit(arch, { batch: 2, lora: placements });
      const feeds = new Map<Node, Float32Array>([[g.x, images]]);
      for (const [name, node] of g.params) {
        const peft = `base_model.model.${name}`;
        feeds.set(node, weights.get(name) ?? adapter[peft].data);
      }
      return evaluate64([g.features], feeds).get(g.features)!;
    };
    const want = features(base.weights, true);
    const err = relError(features(merged.weights, false), want);
    assert.ok(err <= 1e-5, `merged features: relative error ${err}`);
    assert.ok(relError(features(base.weights, false), want) > 1e-3, "the adapter changes the features");
    const check = result.stages[1].summary.metrics as Record<string, number>;
    assert.ok(Number.isFinite(check["validation_loss/digits"]), `${check["validation_loss/digits"]}`);
  } finally {
    await removeOut(out);
  }
});

Deno.test("frozen weights of a pretrained ViT in f16: less planned memory, the f32 run's validation loss to f16 rounding", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    await writeTinyCheckpoint(`${out}/vit`, TINY_VIT);
    const loss: Record<string, number> = {};
    const frozen: Record<string, number> = {};
    for (const dtype of ["f32", "f16"] as const) {
      const s = spec(`${out}/vit`, dtype);
      frozen[dtype] = (await planPipeline(s)).stages[0].memory!.frozen;
      const result = await runPipeline(s, { out: `${out}/${dtype}`, log: captureLog() });
      const summary = JSON.parse(
        await Deno.readTextFile(`${result.root}/${result.stages[1].dir}/summary.json`),
      );
      loss[dtype] = summary.metrics["validation_loss/digits"];
    }
    assert.ok(frozen.f16 < frozen.f32, `frozen bytes f16 ${frozen.f16}, f32 ${frozen.f32}`);
    // weights rounded to f16 (relative 2^-11) move a loss of about 9 by far less than 1e-3
    assert.ok(
      Number.isFinite(loss.f16) && Math.abs(loss.f16 - loss.f32) < 1e-3 * loss.f32,
      JSON.stringify(loss),
    );
    assert.notEqual(loss.f16, loss.f32, "the f16 run must read rounded weights");
  } finally {
    await removeOut(out);
  }
});

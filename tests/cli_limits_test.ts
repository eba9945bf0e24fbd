import assert from "node:assert/strict";
import type { PipelinePlan } from "../src/compile/pipeline_plan.ts";
import { planForward } from "../src/compile/forward_plan.ts";
import { Forward } from "../src/compile/forward.ts";
import { ParamStore } from "../src/compile/param_store.ts";
import { WEBGPU_DEFAULT_LIMITS } from "../src/compile/limits.ts";
import { buildModel } from "../src/models/graph.ts";
import { cli, fixture, loadFixture, mainOutput, removeOut, tempOut } from "./fixtures/helpers.ts";
import { testDevice } from "./_harness.ts";
import "../src/graph/ops/mod.ts";

/** `--plan --json` of a fixture, parsed. */
async function planJson(...args: string[]): Promise<PipelinePlan> {
  const r = await mainOutput(["--plan", "--json", ...args]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

// wide_head.yaml's evaluate stage: 300,000 logits of 4 bytes an image
const LOGITS = 300000 * 4;

Deno.test("--plan fits an evaluate stage's batch to the limits and shows its memory", async () => {
  const plan = await planJson(fixture("wide_head.yaml"), "--limits", "webgpu-default");
  assert.deepEqual(plan.limits, WEBGPU_DEFAULT_LIMITS);
  const check = plan.stages.find((s) => s.name === "check")!;
  // the most images whose logits fit one 128 MiB binding: 111 x 1.2 MB = 133.2 MB; 112 would need 134.4 MB
  assert.equal(check.forward!.batch, Math.floor(2 ** 27 / LOGITS));
  assert.equal(check.forward!.batch, 111);
  const m = check.forward!.memory;
  assert.equal(m.total, m.weights + m.activations);
  assert.equal(check.memoryBytes, m.total);
  // the head alone (8 x 300,000 f32 weights) is in the weights
  assert.ok(m.weights > 8 * 300000 * 4, `${m.weights}`);
  assert.ok(m.activations > 111 * LOGITS, `${m.activations}`);

  const text = await mainOutput([fixture("wide_head.yaml"), "--plan", "--limits", "webgpu-default"]);
  const lines = text.stdout.split("\n");
  assert.ok(
    lines.includes(
      "limits: maxStorageBufferBindingSize 128 MiB, maxBufferSize 256 MiB, maxComputeWorkgroupsPerDimension " +
        "65,535 (webgpu-default)",
    ),
    text.stdout,
  );
  const at = lines.indexOf(`== check (evaluate, ${check.hash})`);
  assert.match(
    lines[at + 1],
    /^batch 111 \(the most, up to 128, that fits the limits\); GPU memory planned: [\d.]+ MiB = weights [\d.]+ MiB \+ activations [\d.]+ MiB$/,
  );
});

Deno.test("--limits FILE plans for a device this machine does not have", async () => {
  const out = await tempOut();
  try {
    const file = `${out}/big.json`;
    // a whole dump of limits is a valid file: names the plan does not check are ignored
    await Deno.writeTextFile(
      file,
      JSON.stringify({ maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 31, maxBindGroups: 4 }),
    );
    const plan = await planJson(fixture("wide_head.yaml"), "--limits", file);
    assert.deepEqual(plan.limits, {
      source: `file ${file}`,
      maxStorageBufferBindingSize: 2 ** 30,
      maxBufferSize: 2 ** 31,
      maxComputeWorkgroupsPerDimension: 65535,
    });
    assert.equal(plan.stages.find((s) => s.name === "check")!.forward!.batch, 128);
    // the `limits` object of a plan is a limits file too
    await Deno.writeTextFile(file, JSON.stringify(plan.limits));
    assert.deepEqual((await planJson(fixture("wide_head.yaml"), "--limits", file)).limits, plan.limits);
    // without --limits the plan holds to this machine's adapter, and says so
    const own = await planJson(fixture("tiny.yaml"));
    const device = await testDevice();
    if (device) {
      assert.match(own.limits.source, /^device: /);
      assert.equal(own.limits.maxStorageBufferBindingSize, device.limits.maxStorageBufferBindingSize);
      assert.equal(own.limits.maxBufferSize, device.limits.maxBufferSize);
    }
  } finally {
    await removeOut(out);
  }
});

Deno.test("--limits that cannot be read is a usage error: exit 2, one line naming the flag", async () => {
  const out = await tempOut();
  try {
    const tiny = fixture("tiny.yaml");
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(`${out}/${name}`, text);
      return `${out}/${name}`;
    };
    const bad = await write("bad.json", '{"maxBufferSize": "2 GiB"}');
    const typo = await write("typo.json", '{"maxStorageBufferBindingSise": 1}');
    const list = await write("list.json", "[1, 2]");
    const broken = await write("broken.json", "{");
    const cases: [string, RegExp][] = [
      [bad, new RegExp(`^--limits ${bad}: maxBufferSize: expected a positive integer, found "2 GiB"\n$`)],
      [
        typo,
        new RegExp(`^--limits ${typo}: maxStorageBufferBindingSise: not a WebGPU limit \\(expected .*\\)\n$`),
      ],
      [list, new RegExp(`^--limits ${list}: expected a JSON object of limits by name\n$`)],
      [broken, new RegExp(`^--limits ${broken}: not JSON: .*\n$`)],
      [
        "gpu-9000",
        /^--limits gpu-9000: neither a profile \(webgpu-default, device\) nor a readable file: .*\n$/,
      ],
    ];
    for (const [value, stderr] of cases) {
      const r = await mainOutput([tiny, "--plan", "--limits", value]);
      assert.equal(r.code, 2, value);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, stderr);
    }
  } finally {
    await removeOut(out);
  }
});

Deno.test("an evaluate stage's planned memory is what its forward pass allocates", async () => {
  const device = await testDevice();
  if (!device) return;
  const spec = await loadFixture("tiny.yaml");
  const plan = await planJson(fixture("tiny.yaml"), "--limits", "webgpu-default");
  const check = plan.stages.find((s) => s.name === "check")!;
  // tiny.yaml's largest domain has 40 validation images: no forward pass needs more rows
  assert.equal(check.forward!.batch, 40);
  // the graph runEvaluate compiles: the finetune stage's model (LoRA included) at the planned batch
  const { DomainCache } = await import("../src/compile/domains.ts");
  const { stageModel } = await import("../src/compile/stage_model.ts");
  const domains = new DomainCache(spec);
  await domains.load();
  const ft = spec.stages.finetune;
  if (ft.kind !== "train") throw new Error("finetune is a train stage");
  const sm = stageModel(spec, "finetune", ft, domains);
  const graph = buildModel(spec.model, sm.build(check.forward!.batch, 1));
  const outputs = [graph.perExample, ...(graph.embedding ? [graph.embedding] : [])];
  const store = new ParamStore(device, [...graph.params.values()].map((p) => ({ ...p, shape: p.shape })));
  const forward = await Forward.compile(device, store, graph, outputs);
  try {
    const allocated = store.bytes.trainable + store.bytes.frozen + forward.program.plannedBytes +
      forward.program.leafBytes;
    assert.deepEqual(planForward(graph, outputs).memory.total, allocated);
    assert.equal(check.forward!.memory.total, allocated);
  } finally {
    forward.destroy();
    store.destroy();
  }
});

Deno.test("a run without --plan takes --limits too, and says when they exceed the device's", async () => {
  // only the warning is checked here (run_device_error_test.ts runs such a plan into the device's limit)
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    const file = `${out}/big.json`;
    await Deno.writeTextFile(file, JSON.stringify({ maxStorageBufferBindingSize: 2 ** 52 }));
    const r = await cli([
      fixture("tiny.yaml"),
      "--out",
      out,
      "--limits",
      file,
      "--stage",
      "pretrain",
      "--steps",
      "1",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stderr.split("\n")[0],
      `--limits ${file}: planned for more than this device offers (maxStorageBufferBindingSize ${
        2 ** 52
      } > ` +
        `${device.limits.maxStorageBufferBindingSize}); a stage that needs more fails with exit 1`,
    );
  } finally {
    await removeOut(out);
  }
});

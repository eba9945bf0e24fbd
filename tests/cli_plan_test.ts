import assert from "node:assert/strict";
import type { PipelinePlan } from "../src/compile/pipeline_plan.ts";
import { hashSpec } from "../src/spec/hash.ts";
import { VERSION } from "../src/version.ts";
import { cli, fixture, loadFixture, stageFolder } from "./fixtures/helpers.ts";

/** `--plan --json` of a fixture, parsed (stdout must hold exactly one JSON object). */
async function planJson(name: string, ...extra: string[]): Promise<PipelinePlan> {
  const r = await cli([fixture(name), "--plan", "--json", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  return JSON.parse(r.stdout);
}

/** Temperature sampling: p(i; T) = n_i^(1/T) / sum_j n_j^(1/T). */
function temperatureProbabilities(sizes: number[], t: number): number[] {
  const w = sizes.map((n) => n ** (1 / t));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** Parameters of tiny.yaml's ViT (dim 16, depth 1, 7x7 patches of 28x28, MLP 32, embedDim 8, 10 classes). */
function vitParams(): number {
  const dim = 16, patch = 49, tokens = 16, mlp = 32, embed = 8, classes = 10;
  const linear = (i: number, o: number) => i * o + o;
  const block = 2 * 2 * dim + linear(dim, 3 * dim) + linear(dim, dim) + linear(dim, mlp) + linear(mlp, dim);
  return linear(patch, dim) + tokens * dim + block + 2 * dim + linear(dim, embed) + embed * classes;
}

Deno.test("--plan --json prints the stage graph, placements, counts, memory, kernels and sampling", async () => {
  const spec = await loadFixture("tiny.yaml");
  const plan = await planJson("tiny.yaml");
  assert.equal(plan.name, "tiny");
  assert.equal(plan.hash, await hashSpec(spec));
  assert.equal(plan.version, VERSION);
  const hash8 = async (stage: string) => (await stageFolder(spec, stage)).slice(stage.length + 1);
  assert.deepEqual(plan.stages.map((s) => [s.name, s.kind, s.hash, s.dependsOn]), [
    ["pretrain", "train", await hash8("pretrain"), []],
    ["finetune", "train", await hash8("finetune"), ["pretrain"]],
    ["check", "evaluate", await hash8("check"), ["finetune"]],
  ]);
  const [pre, ft, check] = plan.stages;

  // pretrain: every weight trained, no adapters, no dropout or clipping kernels
  const total = vitParams();
  assert.equal(total, 3528);
  assert.deepEqual(pre.params, { total, trainable: total, share: 1 });
  assert.deepEqual(pre.adapters, []);
  assert.ok(!pre.kernels!.includes("dropout") && !pre.kernels!.includes("grad_norm"), pre.kernels!.join(" "));

  // finetune: LoRA rank 2 on blocks.0.attn.qkv (16 in, 48 out) = 2 x (16 + 48) = 128, plus the 10 x 8 head
  assert.deepEqual(ft.adapters, [
    {
      pattern: "blocks.*.attn.qkv",
      rank: 2,
      scale: 1,
      gated: false,
      modules: ["blocks.0.attn.qkv"],
      params: 128,
    },
  ]);
  assert.deepEqual(ft.params, { total: total + 128, trainable: 128 + 80, share: 208 / (total + 128) });
  assert.ok(ft.kernels!.includes("dropout") && ft.kernels!.includes("grad_norm"), ft.kernels!.join(" "));
  for (const s of [pre, ft]) {
    assert.ok(Number.isInteger(s.memoryBytes) && s.memoryBytes! > 0, `${s.name}: ${s.memoryBytes}`);
    assert.deepEqual(s.kernels!.slice(-2), ["adamw", "accumulate"]);
  }
  // frozen weights need no gradients or optimizer state: the adapter step plans less memory
  assert.ok(ft.memoryBytes! < pre.memoryBytes!, `${ft.memoryBytes} vs ${pre.memoryBytes}`);

  // sampling: 160 and 40 training examples; Cooldown T = 5 for steps 0-5, T = 1 from step 6 of 12
  assert.deepEqual(pre.sampling!.domains.map((d) => [d.name, d.size]), [["old", 160]]);
  assert.deepEqual(ft.sampling!.domains.map((d) => [d.name, d.size]), [["new", 160], ["few", 40]]);
  const sizes = ft.sampling!.domains.map((d) => d.size);
  assert.deepEqual(ft.sampling!.schedule.map((s) => [s.step, s.temperature]), [[0, 5], [6, 1], [11, 1]]);
  for (const point of ft.sampling!.schedule) {
    const want = temperatureProbabilities(sizes, point.step < 6 ? 5 : 1);
    const got = ["new", "few"].map((d) => point.probabilities[d]);
    got.forEach((p, i) => assert.ok(Math.abs(p - want[i]) < 1e-12, `step ${point.step}: ${got} vs ${want}`));
  }
  assert.ok(Math.abs(ft.sampling!.schedule[0].probabilities.new - 0.5689) < 1e-4);
  assert.equal(check.params, undefined);
});

Deno.test("--plan --json --steps 4 plans the shortened stages (Cooldown switches at step 2)", async () => {
  const plan = await planJson("tiny.yaml", "--steps", "4");
  const ft = plan.stages[1];
  assert.deepEqual(ft.sampling!.schedule.map((s) => [s.step, s.temperature]), [[0, 5], [2, 1], [3, 1]]);
  const full = await planJson("tiny.yaml");
  assert.notEqual(plan.hash, full.hash);
});

Deno.test("tiny.ts and its YAML twin tiny.yaml give the same plan and hash", async () => {
  const fromTs = await planJson("tiny.ts");
  const fromYaml = await planJson("tiny.yaml");
  assert.equal(fromTs.hash, fromYaml.hash);
  assert.deepEqual(fromTs, fromYaml);
  assert.deepEqual(await loadFixture("tiny.ts"), await loadFixture("tiny.yaml"));
});

import assert from "node:assert/strict";
import { adamw, cosface, lora, mnist, pipeline, split, temperature, train, vit } from "../mod.ts";
import { bytes } from "../src/cli/format.ts";
import { loadPipeline } from "../src/cli/load.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { incompatibility } from "../src/run/packed_compat.ts";
import { stageHash } from "../src/spec/hash.ts";
import { PipelineError } from "../src/spec/problem.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { loadPipelineYaml } from "../src/spec/yaml.ts";
import { fixture, mainOutput, ROOT } from "./fixtures/helpers.ts";

const yaml = (frozenDtype: string) =>
  `name: f16
seed: 1
domains:
  hr:
    source: { kind: mnist, digits: [0, 1] }
    transforms: [{ kind: split, validation: 0.1 }]
model: { backbone: vit, image: 28, patch: 7, dim: 32, depth: 2, heads: 2, mlpRatio: 2, embedDim: 16, classes: 10 }
stages:
  ft:
    kind: train
    mix: { domains: [hr], strategy: temperature }
    adapters: [{ targets: blocks.*.attn.qkv, rank: 4 }]
    loss: { kind: cosface, scale: 16, margin: 0.2 }
    optimizer: { kind: adamw, lr: 1.0e-3 }
    steps: 10
    batch: 8
${frozenDtype}`;

Deno.test("frozenDtype: f16 or f32 in YAML; anything else names its line, column and spec path", () => {
  const ft = (s: ReturnType<typeof loadPipelineYaml>) =>
    s.stages.ft.kind === "train" ? s.stages.ft : undefined;
  assert.equal(ft(loadPipelineYaml(yaml("    frozenDtype: f16\n"), "f16.yaml"))?.frozenDtype, "f16");
  // f32 is the default: left out of the spec, so stage hashes from before the setting stay the same
  assert.equal(ft(loadPipelineYaml(yaml("    frozenDtype: f32\n"), "f16.yaml"))?.frozenDtype, undefined);
  assert.throws(() => loadPipelineYaml(yaml("    frozenDtype: half\n"), "f16.yaml"), (e: unknown) => {
    assert.ok(e instanceof PipelineError);
    assert.equal(
      e.format(),
      'f16.yaml:17:5 stages.ft.frozenDtype: expected one of "f32", "f16", "bf16", "stored", found "half"',
    );
    return true;
  });
});

Deno.test("frozenDtype f16 from the builder: same spec as YAML, a new stage hash, never packed", async () => {
  const built = pipeline("f16").seed(1).domain("hr", mnist([0, 1]), split(0.1))
    .model(vit({ image: 28, patch: 7, dim: 32, depth: 2, heads: 2, mlpRatio: 2, embedDim: 16, classes: 10 }))
    .stage(
      "ft",
      train({
        mix: temperature(["hr"]),
        adapters: [lora("blocks.*.attn.qkv", { rank: 4 })],
        loss: cosface({ scale: 16, margin: 0.2 }),
        optimizer: adamw({ lr: 1e-3 }),
        steps: 10,
        batch: 8,
        frozenDtype: "f16",
      }),
    ).build();
  const half = validatePipeline(built);
  assert.deepEqual(half, loadPipelineYaml(yaml("    frozenDtype: f16\n")));
  const full = loadPipelineYaml(yaml(""));
  assert.notEqual(await stageHash(half, "ft", "0"), await stageHash(full, "ft", "0"));
  assert.equal(
    await stageHash(loadPipelineYaml(yaml("    frozenDtype: f32\n")), "ft", "0"),
    await stageHash(full, "ft", "0"),
  );
  assert.equal(
    incompatibility({ spec: half, name: "ft" }, { spec: full, name: "ft" }),
    "f16 stages.ft: keeps frozen weights in f16, which packed runs do not do",
  );
});

/** tiny.yaml with `line` added to the finetune stage (after its line 62), written to a temporary file. */
async function tinyWith(line: string): Promise<{ file: string; dir: string }> {
  const lines = (await Deno.readTextFile(`${ROOT}${fixture("tiny.yaml")}`)).split("\n");
  assert.equal(lines[61], "    checkpointEvery: 4");
  lines.splice(62, 0, line);
  const dir = await Deno.makeTempDir({ prefix: "mixtune_test_" });
  await Deno.writeTextFile(`${dir}/tiny.yaml`, lines.join("\n"));
  return { file: `${dir}/tiny.yaml`, dir };
}

Deno.test("--plan counts an f16 stage's frozen matmul weights at 2 bytes; a bad frozenDtype exits 2 in one line", async () => {
  const { file, dir } = await tinyWith("    frozenDtype: f16");
  const bad = await tinyWith("    frozenDtype: half");
  try {
    const r = await mainOutput([file, "--plan"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = await planPipeline(await loadPipeline(file));
    const ft = plan.stages.find((s) => s.name === "finetune")!.memory!;
    assert.ok(ft.frozenF16! > 0);
    assert.equal(plan.stages.find((s) => s.name === "pretrain")!.memory!.frozenF16, undefined);
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("GPU memory planned:"));
    assert.equal(lines.length, 2);
    assert.ok(
      lines[1].includes(`= frozen ${bytes(ft.frozen)} (${bytes(ft.frozenF16!)} of it 16-bit weights) + `),
      lines[1],
    );
    assert.ok(!lines[0].includes("f16"), lines[0]);
    const e = await mainOutput([bad.file, "--plan"]);
    assert.equal(e.code, 2);
    assert.equal(e.stdout, "");
    assert.equal(
      e.stderr,
      `${bad.file}:63:5 stages.finetune.frozenDtype: expected one of "f32", "f16", "bf16", "stored", found "half"\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(bad.dir, { recursive: true });
  }
});

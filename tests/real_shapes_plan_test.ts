/**
 * `--plan` at real model sizes: checkpoint folders with the exact config.json and tensor tables of GPT-2
 * small, SmolLM2-135M, Qwen2.5-0.5B (bf16, two shards, tied 151,936 vocabulary) and TinyLlama-1.1B
 * (tests/fixtures/real_shapes.py --empty: headers and sparse data, which a plan never reads), LoRA at
 * batch 4 x 256 tokens with an evaluate stage, planned against lavapipe's limits (a file, so the test does
 * not depend on the adapter) and against WebGPU's defaults.
 */
import assert from "node:assert/strict";

const FIXTURE = new URL("./fixtures/real_shapes.py", import.meta.url).pathname;
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const MODELS = ["gpt2", "smollm2-135m", "qwen2.5-0.5b", "tinyllama-1.1b"];
/** lavapipe's (Mesa 22.3) limits as its adapter reports them. */
const LAVAPIPE = {
  maxStorageBufferBindingSize: 128 * 2 ** 20,
  maxBufferSize: 2 ** 31,
  maxComputeWorkgroupsPerDimension: 65535,
};

function pipelineYaml(dir: string, name: string): string {
  const targets = name === "gpt2"
    ? '"transformer.h.*.attn.c_attn"'
    : '"model.layers.*.self_attn.q_proj", "model.layers.*.self_attn.v_proj"';
  return [
    `name: real-${name}`,
    "seed: 2",
    "domains:",
    "  vi: { source: { kind: dictionary, language: vi }, transforms: [{ kind: split, validation: 0.1 }] }",
    `model: { pretrained: ${dir}/${name}, context: 256 }`,
    "stages:",
    "  tune:",
    "    kind: train",
    "    mix: { domains: [vi], strategy: temperature }",
    `    adapters: [{ targets: [${targets}], rank: 8 }]`,
    "    loss: { kind: lm }",
    "    optimizer: { kind: adamw, lr: 1.0e-3 }",
    "    steps: 4",
    "    batch: 4",
    "  check: { kind: evaluate, from: tune, tasks: [validation_loss, perplexity] }",
    "",
  ].join("\n");
}

async function plan(file: string, limits: string): Promise<{ code: number; out: string; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, file, "--plan", "--limits", limits],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, out: text(out.stdout), err: text(out.stderr) };
}

Deno.test("--plan passes for GPT-2 small, SmolLM2-135M, Qwen2.5-0.5B and TinyLlama-1.1B at batch 4 x 256", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_shapes_" });
  try {
    const made = await new Deno.Command("/usr/bin/python3", {
      args: [FIXTURE, dir, ...MODELS, "--empty"],
      stderr: "piped",
    }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const limits = `${dir}/lavapipe.json`;
    await Deno.writeTextFile(limits, JSON.stringify(LAVAPIPE));
    const weights: Record<string, string> = {
      "gpt2": "124,439,808",
      "smollm2-135m": "134,515,008",
      "qwen2.5-0.5b": "494,032,768",
      "tinyllama-1.1b": "1,100,048,384",
    };
    // planned MiB of the train and evaluate stages: a bf16 checkpoint's frozen weights all bf16, embeddings
    // included, in both stages
    const planned: Record<string, [string, string]> = {
      "gpt2": ["989.31 MiB", "611.65 MiB"],
      "smollm2-135m": ["2036.54 MiB", "391.08 MiB"],
      "qwen2.5-0.5b": ["4539.78 MiB", "1315.21 MiB"],
      "tinyllama-1.1b": ["6882.16 MiB", "2554.43 MiB"],
    };
    for (const name of MODELS) {
      const file = `${dir}/${name}.yaml`;
      await Deno.writeTextFile(file, pipelineYaml(dir, name));
      const r = await plan(file, limits);
      assert.equal(r.code, 0, `${name}: ${r.err}`);
      assert.ok(r.out.includes(`${weights[name]} weights`), `${name}: ${r.out}`);
      assert.ok(r.out.includes(`maxBufferSize 2.00 GiB`), r.out);
      const memory = r.out.split("\n").filter((l) => l.includes("GPU memory planned"));
      assert.equal(memory.length, 2, `${name}: a memory line per stage\n${r.out}`);
      // the README's table of real sizes
      assert.ok(memory[0].includes(`GPU memory planned: ${planned[name][0]}`), `${name}: ${memory[0]}`);
      assert.ok(memory[1].includes(`GPU memory planned: ${planned[name][1]}`), `${name}: ${memory[1]}`);
      assert.match(
        memory[1],
        /^batch \d+ \((the most, up to 128, that fits the limits|every validation example of its largest domain; it fits the limits)\)/,
      );
    }
    // WebGPU's default limits (256 MiB buffers): GPT-2 small's pools fit, Qwen2.5's 260 MiB bf16 embedding does not
    const gpt2 = await plan(`${dir}/gpt2.yaml`, "webgpu-default");
    assert.equal(gpt2.code, 0, gpt2.err);
    const qwen = await plan(`${dir}/qwen2.5-0.5b.yaml`, "webgpu-default");
    assert.equal(qwen.code, 2);
    assert.match(
      qwen.err.trim(),
      /^.*qwen2\.5-0\.5b\.yaml:5:1 model\.dim: the step needs a buffer of 259\.7 MiB \(frozen 16-bit parameter model\.embed_tokens\.weight\); a buffer is at most 256 MiB \(maxBufferSize of webgpu-default\): use a smaller model$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

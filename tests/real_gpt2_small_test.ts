/**
 * Real model sizes: GPT-2 small (124,439,808 weights, f32) with random weights under its exact config,
 * written by tests/fixtures/real_shapes.py, against the float64 PyTorch reference of
 * tests/fixtures/real_reference.py. Its 147 MiB embedding is over one WebGPU binding (128 MiB), and its
 * 475 MiB of frozen weights over WebGPU's default maxBufferSize (256 MiB): the store pools them and the
 * gather, the fused loss and generation's output projection read the embedding in parts. Without torch the
 * tests are ignored by name, except in CI (CI=true), where they run and fail.
 */
import { textureReads } from "../src/gpu/operand_textures.ts";
import assert from "node:assert/strict";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program, type Slot } from "../src/compile/program.ts";
import { planStep, stepGraph, TrainStep } from "../src/compile/train_step.ts";
import type { Node } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { loraNames } from "../src/models/_linear.ts";
import { buildModel } from "../src/models/graph.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { fitBatch } from "../src/compile/forward_plan.ts";
import { generate, generationGraph } from "../src/compile/generate.ts";
import { WEBGPU_DEFAULT_LIMITS } from "../src/compile/limits.ts";
import type { PretrainedLmArch } from "../src/models/pretrained/arch.ts";
import { testDevice } from "./_harness.ts";
import { normRelError, torchStatus } from "./_hf_reference.ts";

const PYTHON = "/usr/bin/python3";
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;
const [B, T] = [2, 32];
const TARGETS = ["transformer.h.0.attn.c_attn", "transformer.h.11.attn.c_attn"];
/** float32 against float64 over 12 layers: the issue's bound; measured errors are written in the asserts. */
const TOL = 1e-4;
/** Live GPU bytes may differ from the plan by this fraction (uniform parameter buffers, alignment). */
const MEMORY_TOL = 0.1;

interface Reference {
  x: number[];
  labels: number[];
  loss: number;
  /** The next-token logits after the first row's ids. */
  next: number[];
  lora: {
    rank: number;
    scale: number;
    loss: number;
    A: Record<string, number[]>;
    B: Record<string, number[]>;
    gradA: Record<string, number[]>;
    gradB: Record<string, number[]>;
  };
}

async function python(args: string[]): Promise<void> {
  const out = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${args[0]} failed:\n${new TextDecoder().decode(out.stderr)}`);
}

let fixture: Promise<{ dir: string; ref: Reference }> | undefined;
/** GPT-2 small's folder and the reference at B x T, written once per test file run. */
function gpt2Small(): Promise<{ dir: string; ref: Reference }> {
  fixture ??= (async () => {
    const root = await Deno.makeTempDir({ prefix: "mixtune_real_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(root, { recursive: true }));
    await python([`${FIXTURES}real_shapes.py`, root, "gpt2"]);
    const dir = `${root}/gpt2`;
    await python([`${FIXTURES}real_reference.py`, dir, `${root}/ref.json`, `${B}`, `${T}`, ...TARGETS]);
    return { dir, ref: JSON.parse(await Deno.readTextFile(`${root}/ref.json`)) as Reference };
  })();
  return fixture;
}

function model(dir: string, ref: Reference) {
  const lora = TARGETS.map((path) => ({ path, rank: ref.lora.rank, scale: ref.lora.scale, gated: false }));
  return buildModel({ backbone: "pretrained", pretrained: dir, context: T }, {
    batch: B,
    domains: 1,
    loss: { kind: "lm" },
    lora,
  });
}

/** Every parameter's value: the checkpoint's, and the reference's LoRA weights. */
async function values(dir: string, ref: Reference): Promise<Map<string, Float32Array>> {
  const weights = new Map((await readPretrained(dir)).weights);
  assert.equal([...weights.values()].reduce((a, w) => a + w.length, 0), 124_439_808);
  for (const t of TARGETS) {
    weights.set(loraNames(t).A, Float32Array.from(ref.lora.A[t]));
    weights.set(loraNames(t).B, Float32Array.from(ref.lora.B[t]));
  }
  return weights;
}

const { missing, ci } = torchStatus;
const ignore = missing !== null && !ci;
if (ignore) console.warn(`GPT-2 small tests ignored: ${missing}`);

Deno.test({
  name: "GPT-2 small: loss and LoRA gradients equal PyTorch's (float64) with weights in pools under 256 MiB",
  ignore,
  fn: async () => {
    const device = await testDevice();
    if (!device) return;
    const { dir, ref } = await gpt2Small();
    const m = model(dir, ref);
    const wrt = TARGETS.flatMap((t) => [m.params.get(loraNames(t).A)!, m.params.get(loraNames(t).B)!]);
    const grads = gradients(m.loss, wrt);
    const params = [...m.params.values()];
    // WebGPU's default maxBufferSize: the frozen weights take more than one pool
    const store = new ParamStore(device, params.map((p) => ({ ...p })), 256 * 2 ** 20);
    assert.ok(store.frozen.length >= 2, `${store.frozen.length} pool(s)`);
    store.upload(await values(dir, ref));
    const pinned = new Map<Node, Slot>(params.map((p) => [p, store.slot(p.name)]));
    const outputs = [m.loss, ...wrt.map((w) => grads.get(w)!)];
    const program = await Program.compile(device, outputs, { pinned, poison: true });
    program.write(m.inputs.x, Float32Array.from(ref.x));
    program.write(m.inputs.labels, Float32Array.from(ref.labels));
    program.write(m.inputs.weights, new Float32Array(B).fill(1));
    program.run();
    const got = await Promise.all(outputs.map((o) => program.read(o)));
    program.destroy();
    store.destroy();
    const truths = [[ref.lora.loss], ...TARGETS.flatMap((t) => [ref.lora.gradA[t], ref.lora.gradB[t]])];
    const names = ["loss", ...TARGETS.flatMap((t) => [`${t} dA`, `${t} dB`])];
    const errors = got.map((v, i) => normRelError(v, truths[i]));
    console.log(
      `GPT-2 small against PyTorch float64: ${
        names.map((n, i) => `${n} ${errors[i].toExponential(1)}`).join(", ")
      }`,
    );
    errors.forEach((e, i) => assert.ok(e <= TOL, `${names[i]}: relative error ${e} > ${TOL}`));
  },
});

Deno.test({
  name:
    "GPT-2 small: a compiled LoRA step's live GPU memory is within 10% of its plan, and its loss is PyTorch's",
  ignore,
  fn: async () => {
    const device = await testDevice();
    if (!device) return;
    const { dir, ref } = await gpt2Small();
    const m = model(dir, ref);
    const options = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, clip: 1 };
    // every buffer the step creates, counted while it lives
    let live = 0;
    const create = device.createBuffer.bind(device);
    device.createBuffer = (d: GPUBufferDescriptor) => {
      const b = create(d);
      live += b.size;
      const destroy = b.destroy.bind(b);
      b.destroy = () => {
        live -= b.size;
        destroy();
      };
      return b;
    };
    // and every operand texture (16 bytes a texel in rgba32float, 4 in r32float)
    const createTexture = device.createTexture.bind(device);
    device.createTexture = (d: GPUTextureDescriptor) => {
      const t = createTexture(d);
      const [w, h] = d.size as number[];
      live += w * h * (d.format === "rgba32float" ? 16 : 4);
      return t;
    };
    let step: TrainStep | undefined;
    try {
      step = await TrainStep.compile(device, m, options);
    } finally {
      device.createBuffer = create;
      device.createTexture = createTexture;
    }
    const planned = planStep(m, options.clip, undefined, {}, undefined, textureReads(device)).memory.total;
    console.log(
      `GPT-2 small LoRA step at ${B} x ${T}: live GPU buffers ${(live / 2 ** 20).toFixed(2)} MiB, planned ${
        (planned / 2 ** 20).toFixed(2)
      } MiB`,
    );
    assert.ok(
      Math.abs(live - planned) <= MEMORY_TOL * planned,
      `live ${(live / 2 ** 20).toFixed(1)} MiB, planned ${(planned / 2 ** 20).toFixed(1)} MiB`,
    );
    step.store.upload(await values(dir, ref));
    step.feed({
      x: Float32Array.from(ref.x),
      labels: Float32Array.from(ref.labels),
      weights: new Float32Array(B).fill(1),
      domains: new Float32Array(B).fill(1),
    });
    step.run(1e-3);
    const { loss, nanStep, weightStep } = await step.drainMetrics();
    assert.equal(nanStep + weightStep, 0);
    assert.ok(
      Math.abs(loss - ref.lora.loss) <= TOL * ref.lora.loss,
      `loss ${loss}, PyTorch ${ref.lora.loss}`,
    );
    // the step moved the LoRA weights
    const after = await step.store.download();
    assert.notDeepEqual(after.get(loraNames(TARGETS[0]).B), Float32Array.from(ref.lora.B[TARGETS[0]]));
    assert.equal(stepGraph(m).gradNodes.size, 4);
    step.destroy();
  },
});

Deno.test({
  name:
    "GPT-2 small: generation plans at its 1,024 positions and its next-token logits equal PyTorch's (float64)",
  ignore,
  fn: async () => {
    const { dir, ref } = await gpt2Small();
    const pretrained = await readPretrained(dir);
    const arch = pretrained.arch as PretrainedLmArch;
    // the head (the tied 147 MiB embedding) is read in pieces of rows, and only the last position's logits
    // are made: the whole window fits WebGPU's default limits
    const fit = fitBatch(
      "generation",
      arch.positions,
      WEBGPU_DEFAULT_LIMITS,
      (context) => {
        const g = generationGraph(arch, context);
        return { model: g.graph, outputs: [g.logits], store: false };
      },
      false,
      "context",
    );
    assert.equal(fit.batch, 1024);
    const device = await testDevice();
    if (!device) return;
    // the graph generation runs, at the reference's window: the first row's ids, logits after the last one
    const { graph, position, logits } = generationGraph(arch, T);
    assert.deepEqual(logits.shape, [1, 50257]);
    const program = await Program.compile(device, [logits], { poison: true });
    for (const [name, node] of graph.params) program.write(node, pretrained.weights.get(name)!);
    program.write(graph.inputs.x, Float32Array.from(ref.x.slice(0, T)));
    program.write(position, Float32Array.of(T - 1));
    program.run();
    const got = await program.read(logits);
    program.destroy();
    const e = normRelError(got, ref.next);
    console.log(
      `GPT-2 small next-token logits against PyTorch float64: relative error ${e.toExponential(1)}`,
    );
    assert.ok(e <= TOL, `relative error ${e}`);
    // greedy generation picks PyTorch's most likely token (when it leads the next by a clear margin)
    const order = ref.next.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]);
    assert.ok(order[0][0] - order[1][0] > 1e-3, `the top two logits are ${order[0][0]} and ${order[1][0]}`);
    const ids: number[] = [];
    const options = { maxNew: 2, sampling: { kind: "greedy" as const }, seed: 0, context: T };
    for await (const id of generate(device, pretrained, ref.x.slice(0, T), options)) ids.push(id);
    assert.equal(ids.length, 2);
    assert.equal(ids[0], order[0][1]);
  },
});

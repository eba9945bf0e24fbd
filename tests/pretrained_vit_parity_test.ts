/**
 * ViT parity with an independent PyTorch implementation (tests/fixtures/hf_reference.py): a tiny random
 * ViTForImageClassification (f32, exact GELU, 3 channels fed one grayscale channel) and a ViTModel saved
 * bare (bf16, no `vit.` prefix, a pooler, tanh GELU, no qkv biases). CLS features, the classifier's logits,
 * and one LoRA step through the pipeline's cosine head (loss and gradients of LoRA and head) compared on the
 * GPU (float32) and in mixtune's float64 interpreter.
 */
import assert from "node:assert/strict";
import type { Node } from "../src/graph/node.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { gradients } from "../src/graph/grad.ts";
import { Program } from "../src/compile/program.ts";
import type { PretrainedConfig } from "../src/models/config.ts";
import { buildModel } from "../src/models/graph.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { buildVit } from "../src/models/pretrained/vit_graph.ts";
import type { VitArch } from "../src/models/pretrained/arch.ts";
import { loraNames } from "../src/models/_linear.ts";
import { relError, testDevice } from "./_harness.ts";
import { fixtureDir, normRelError, torchStatus } from "./_hf_reference.ts";

/**
 * As for the language models: on the GPU the whole tensor within 1e-5 (|a - b|_2 / |b|_2) and each element
 * within 1e-3 (relError, floored at 1e-3 of the largest value), features and logits within 1e-4 (measured:
 * 1.3e-5 or better); the float64 interpreter within 1e-10.
 */
const GPU_NORM_TOL = 1e-5;
const GPU_ELEMENT_TOL = 1e-3;
const GPU_FEATURE_TOL = 1e-4;
const CPU_TOL = 1e-10;

interface VitReference {
  dtype: string;
  /** Side of the images (the model's image_size unless they are resized). */
  side: number;
  images: number[];
  labels: number[];
  batch: number;
  classes: number;
  scale: number;
  features: number[];
  logits: number[] | null;
  head: number[];
  gradHead: number[];
  lora: {
    rank: number;
    scale: number;
    targets: string[];
    A: Record<string, number[]>;
    B: Record<string, number[]>;
    loss: number;
    gradA: Record<string, number[]>;
    gradB: Record<string, number[]>;
  };
}

async function parity(name: string): Promise<void> {
  const dir = `${await fixtureDir()}/${name}`;
  const ref = JSON.parse(await Deno.readTextFile(`${dir}/reference.json`)) as VitReference;
  const model = readPretrained(dir);
  assert.ok([...model.dtypes.values()].every((d) => d === ref.dtype), `${name}: stored dtypes`);
  const arch = model.arch as VitArch;
  const B = ref.batch;
  const feeds = (params: Map<string, Node>, inputs: Map<Node, number[]>) => {
    const f = new Map<Node, Float32Array>([...inputs].map(([n, v]) => [n, Float32Array.from(v)]));
    for (const [pname, node] of params) {
      const w = model.weights.get(pname);
      if (w) f.set(node, w);
    }
    return f;
  };

  const side = ref.side;
  const plain = buildVit(arch, { batch: B, classifier: true, side });
  const outputs = [plain.features, ...(plain.logits ? [plain.logits] : [])];
  const truths = [ref.features, ...(ref.logits ? [ref.logits] : [])];
  assert.equal(outputs.length, truths.length, `${name}: classifier logits on one side only`);
  const plainFeeds = feeds(plain.params, new Map([[plain.x, ref.images]]));

  const config: PretrainedConfig = { backbone: "pretrained", pretrained: dir, classes: ref.classes };
  const lora = ref.lora.targets.map((path) => ({
    path,
    rank: ref.lora.rank,
    scale: ref.lora.scale,
    gated: false,
  }));
  const g = buildModel(config, {
    batch: B,
    domains: 1,
    loss: { kind: "softmax", scale: ref.scale },
    lora,
    side,
  });
  const head = g.params.get("head.weight")!;
  const loraFeeds = feeds(
    g.params,
    new Map<Node, number[]>([
      [g.inputs.x, ref.images],
      [g.inputs.labels, ref.labels],
      [g.inputs.weights, Array(B).fill(1)],
      [head, ref.head],
      ...ref.lora.targets.flatMap((t): [Node, number[]][] => [
        [g.params.get(loraNames(t).A)!, ref.lora.A[t]],
        [g.params.get(loraNames(t).B)!, ref.lora.B[t]],
      ]),
    ]),
  );
  const wrt = [
    ...ref.lora.targets.flatMap((t) => [g.params.get(loraNames(t).A)!, g.params.get(loraNames(t).B)!]),
    head,
  ];
  const grads = gradients(g.loss, wrt);
  const gradNodes = wrt.map((w) => grads.get(w)!);
  truths.push(
    [ref.lora.loss],
    ...ref.lora.targets.flatMap((t) => [ref.lora.gradA[t], ref.lora.gradB[t]]),
    ref.gradHead,
  );
  const labels = [
    "features",
    ...(ref.logits ? ["logits"] : []),
    "LoRA loss",
    ...ref.lora.targets.flatMap((t) => [`${t} dA`, `${t} dB`]),
    "head d",
  ];
  const check = (what: string, errs: number[], tol: number) =>
    errs.forEach((e, i) => assert.ok(e <= tol, `${name} ${what} ${labels[i]}: relative error ${e} > ${tol}`));

  const f64 = evaluate(outputs, plainFeeds);
  const g64 = evaluate([g.loss, ...gradNodes], loraFeeds);
  const cpu = [...outputs.map((o) => f64.get(o)!), g64.get(g.loss)!, ...gradNodes.map((n) => g64.get(n)!)];
  const f64Errors = cpu.map((v, i) => relError(v, truths[i]));
  check("float64", f64Errors, CPU_TOL);

  const device = await testDevice();
  if (!device) return;
  const gpu: Float32Array[] = [];
  const p1 = await Program.compile(device, outputs, { poison: true });
  for (const [n, v] of plainFeeds) p1.write(n, v);
  p1.run();
  for (const o of outputs) gpu.push(await p1.read(o));
  p1.destroy();
  const p2 = await Program.compile(device, [g.loss, ...gradNodes], { poison: true });
  for (const [n, v] of loraFeeds) p2.write(n, v);
  p2.run();
  gpu.push(await p2.read(g.loss));
  for (const n of gradNodes) gpu.push(await p2.read(n));
  p2.destroy();
  const norms = gpu.map((v, i) => normRelError(v, truths[i]));
  const elements = gpu.map((v, i) => relError(v, truths[i]));
  const e = (x: number) => x.toExponential(1);
  console.log(
    `${name} float64 largest: ${e(Math.max(...f64Errors))}; GPU norm / element: ${
      labels.map((l, i) => `${l} ${e(norms[i])} / ${e(elements[i])}`).join(", ")
    }`,
  );
  check("GPU |.|_2", norms, GPU_NORM_TOL);
  check("GPU per element", elements, GPU_ELEMENT_TOL);
  check("GPU per element", elements.slice(0, outputs.length), GPU_FEATURE_TOL);
}

const { missing, ci } = torchStatus;
const ignore = missing !== null && !ci;
if (ignore) console.warn(`pretrained ViT parity tests ignored: ${missing}`);
Deno.test({
  name:
    "readPretrained() ViTForImageClassification (f32, erf GELU) matches PyTorch: features, logits, LoRA step",
  ignore,
  fn: () => parity("vit_f32"),
});
Deno.test({
  name: "readPretrained() ViTModel saved bare (bf16, pooler, tanh GELU, no qkv bias) matches PyTorch",
  ignore,
  fn: () => parity("vit_model_bf16"),
});
Deno.test({
  name:
    "readPretrained() ViT of image_size 56 on 28-pixel images with preprocessor_config.json (resize, per-channel mean/std) matches PyTorch",
  ignore,
  fn: () => parity("vit_resized"),
});

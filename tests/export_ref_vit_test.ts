import assert from "node:assert/strict";
import type { VitConfig } from "../src/models/config.ts";
import { mergeLora } from "../src/export/merge.ts";
import type { HostTensor } from "../src/export/types.ts";
import {
  geluTanh,
  randomLora,
  randomVitWeights,
  refAttention,
  refEffectiveWeight,
  refLayerNorm,
  refLinear,
  refPatchify,
  refVitForward,
} from "./_ref_vit.ts";

const t = (shape: number[], values: number[]): HostTensor => ({ shape, data: Float32Array.from(values) });
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `[${i}] ${a[i]} vs ${b[i]}`);
};
const config: VitConfig = {
  backbone: "vit",
  image: 28,
  patch: 7,
  dim: 32,
  depth: 2,
  heads: 2,
  mlpRatio: 4,
  embedDim: 16,
  classes: 5,
};

Deno.test("refPatchify() orders patches row by row and pixels row by row within a patch", () => {
  const image = Array.from({ length: 28 * 28 }, (_, i) => i);
  const p = refPatchify(image, config);
  // patch 1 = (py 0, px 1); pixel (iy 1, ix 2) is image row 1, column 7 + 2.
  assert.equal(p[1 * 49 + 1 * 7 + 2], 1 * 28 + 9);
  // patch 5 = (py 1, px 1); pixel (iy 0, ix 0) is image row 7, column 7.
  assert.equal(p[5 * 49], 7 * 28 + 7);
});

Deno.test("geluTanh() matches known values", () => {
  close([geluTanh(0), geluTanh(1), geluTanh(-1)], [0, 0.8411919906082768, -0.15880800939172324], 1e-15);
});

Deno.test("refLayerNorm() uses the biased variance and eps 1e-5", () => {
  const y = refLayerNorm(
    Float64Array.from([1, 2, 3, 4]),
    1,
    Float64Array.from([1, 1, 2, 1]),
    new Float64Array(4),
  );
  const inv = 1 / Math.sqrt(1.25 + 1e-5);
  close(y, [-1.5 * inv, -0.5 * inv, 2 * 0.5 * inv, 1.5 * inv]);
});

Deno.test("refAttention() splits qkv columns as [q | k | v] and heads by column blocks", () => {
  // d = 2, two heads of width 1; rows are tokens: [q_a, q_b, k_a, k_b, v_a, v_b].
  const qkv = Float64Array.from([0, 10, 0, 0, 1, 2, 0, 10, 0, 1, 3, 4]);
  const out = refAttention(qkv, 2, 2, 2);
  const p1 = Math.exp(10) / (1 + Math.exp(10));
  const b = 2 * (1 - p1) + 4 * p1;
  close(out, [2, b, 2, b]);
});

Deno.test("refLinear() adds plain and gate-weighted LoRA branches", () => {
  const w = t([2, 2], [1, 0, 0, 1]);
  const bias = t([2], [0.5, -0.5]);
  const x = Float64Array.from([1, 2]);
  const plain = { scale: 0.5, A1: t([1, 2], [1, 1]), B1: t([2, 1], [2, 0]) };
  close(refLinear(x, 1, w, bias, plain), [4.5, 1.5]);
  const gated = { ...plain, A2: t([1, 2], [1, -1]), B2: t([2, 1], [0, 1]) };
  close(refLinear(x, 1, w, bias, gated, 0.25), [2.25, 1.125]);
});

Deno.test("mergeLora() and refEffectiveWeight() agree with the unmerged refLinear()", () => {
  const lora = randomLora(config, ["blocks.0.mlp.fc1"], { rank: 3, seed: 5, scale: 2, gated: true });
  const w = randomVitWeights(config, 4)["blocks.0.mlp.fc1.weight"];
  const x = Float64Array.from({ length: 32 }, (_, i) => Math.sin(i));
  const l = lora["blocks.0.mlp.fc1"];
  const merged = mergeLora(w, l, 0.3);
  close(merged, refEffectiveWeight(w, l, 0.3), 1e-12);
  const viaMerged = refLinear(x, 1, { shape: w.shape, data: Float32Array.from(merged) }, undefined);
  close(viaMerged, refLinear(x, 1, w, undefined, l, 0.3), 1e-5); // merged W rounded to float32
});

Deno.test("refVitForward() gives cosine logits bounded by the scale and checks its gate", () => {
  const weights = randomVitWeights(config, 1);
  const images = new Float32Array(2 * 784).fill(0.5);
  const { embedding, logits } = refVitForward(config, weights, images, 2, { logitScale: 8 });
  assert.equal(embedding.length, 32);
  assert.ok(logits.every((v) => Math.abs(v) <= 8));
  close(logits.subarray(0, 5), logits.subarray(5, 10)); // same image, same logits
  const lora = randomLora(config, ["feature"], { rank: 2, seed: 1, gated: true });
  assert.throws(
    () => refVitForward(config, weights, images, 2, { logitScale: 8, lora }),
    new Error("reference: gated LoRA needs a gate of length 2, found undefined"),
  );
});

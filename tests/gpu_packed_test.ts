/**
 * The pieces of the packed step on their own: the packed LoRA layer against float64 and finite differences,
 * the per-variant norm and AdamW kernels against float64 AdamW run per variant, the per-variant metric sums.
 */
import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { packedAdamwCalls, writePackedState } from "../src/compile/packed_optimizer.ts";
import { adamwReference } from "../src/compile/optimizer.ts";
import { read } from "../src/compile/param_store.ts";
import { Program } from "../src/compile/program.ts";
import { input, param, type Shape } from "../src/graph/node.ts";
import { dropout, dropoutSegments } from "../src/graph/ops/dropout.ts";
import { packedLoraLinear } from "../src/graph/ops/lora_packed.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { gradients } from "../src/graph/grad.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { gradCheck, randoms, relError, testDevice } from "./_harness.ts";

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const K = 3;
const IN = 7;
const OUT = 6;
const RANK = 3;

/** A packed layer over x of `xShape` (K variants), gated or not, with its feeds. */
function layer(xShape: Shape, gated: boolean) {
  const x = input("x", xShape);
  const W = param("W", [OUT, IN], false);
  const b = param("b", [OUT], false);
  const res = input("residual", [...xShape.slice(0, -1), OUT]);
  const A1 = param("A1", [K, RANK, IN], true);
  const B1 = param("B1", [K, OUT, RANK], true);
  const A2 = param("A2", [K, RANK, IN], true);
  const B2 = param("B2", [K, OUT, RANK], true);
  const gate = gated ? input("gate", [xShape[0]]) : undefined;
  const scales = [0.5, 4 / 3, 2];
  const out = packedLoraLinear(x, W, b, [
    { A: A1, B: B1, scales, gate },
    ...(gated ? [{ A: A2, B: B2, scales, gate, gateComplement: true }] : []),
  ], res);
  const leaves = [x, W, b, res, A1, B1, ...(gated ? [A2, B2, gate!] : [])];
  const feeds = new Map(leaves.map((n, i) => [n, randoms(n.size, 40 + i, gated && n === gate ? 0 : -1, 1)]));
  return { out, feeds, trainable: [A1, B1, ...(gated ? [A2, B2] : []), x] };
}

for (const gated of [false, true]) {
  for (const xShape of [[K * 5, IN], [K * 2, 3, IN]]) {
    Deno.test(`packedLoraLinear ${gated ? "gated " : ""}x [${xShape}] matches float64 and finite differences`, async () => {
      const { out, feeds, trainable } = layer(xShape, gated);
      const grad = gradCheck(out, trainable, feeds);
      assert.ok(grad <= 1e-6, `gradient relative error ${grad}`);
      const device = await testDevice();
      if (!device) return;
      // forward and the gradients of sum(out) on the GPU (outputs NaN-poisoned) against float64; each
      // output is a sum of O(1) terms of both signs, so the error is measured against the tensor's scale
      const grads = gradients(sumAll(out), trainable);
      const outs = [out, ...grads.values()];
      const program = await Program.compile(device, outs, { poison: true });
      for (const [n, v] of feeds) program.write(n, v);
      program.run();
      const ref = evaluate(outs, feeds);
      for (const o of outs) {
        const err = relError(await program.read(o), ref.get(o)!, 1);
        assert.ok(err <= 1e-6, `${o.name} [${o.shape}]: GPU relative error ${err}`);
      }
      program.destroy();
    });
  }
}

interface Setting {
  lr: number;
  clip: number;
  weightDecay: number;
}

/**
 * Per-variant norms and AdamW over 1,037 elements (variant blocks of awkward sizes, padding and the norms
 * NaN-poisoned), 3 steps with gradients in [-scale, scale), against float64 AdamW run per variant; returns
 * each variant's theta and norm relative errors and its non-finite flag (state[8 k + 7]) after the last step.
 */
async function packedAgainstFloat64(
  device: GPUDevice,
  scale: number,
  settings: Setting[],
): Promise<{ theta: number[]; norm: number[]; flags: number[] }> {
  const n = 1037;
  const vid = Uint32Array.from(
    { length: n },
    (_, i) => (i < 300 ? 1 : i < 310 ? K : i < 800 ? 0 : i < 1030 ? 2 : K),
  );
  const o = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
  const theta0 = randoms(n, 1);
  const mask = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const poison = (x: Float32Array) => x.map((v, i) => (vid[i] === K ? NaN : v));
  const make = (data: ArrayBufferView) => {
    const b = device.createBuffer({ size: n * 4 + 12, usage: USAGE });
    device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
    return b;
  };
  const buffers = {
    theta: make(poison(theta0)),
    grad: make(new Float32Array(n)),
    m: make(poison(new Float32Array(n))),
    v: make(poison(new Float32Array(n))),
    mask: make(mask),
    variant: make(vid),
  };
  const { calls, state } = packedAdamwCalls(device, { ...o, ...buffers, n, variants: K });
  device.queue.writeBuffer(state, 0, new Float32Array(8 * K).fill(NaN));
  const program = await Program.compile(device, [], { after: calls });
  const idx = Array.from({ length: K }, (_, k) => [...vid.keys()].filter((i) => vid[i] === k));
  const ref = idx.map((ix) => ({
    theta: Float64Array.from(ix, (i) => theta0[i]),
    m: new Float64Array(ix.length),
    v: new Float64Array(ix.length),
    mask: Float64Array.from(ix, (i) => mask[i]),
  }));
  const norms: number[] = [];
  for (let step = 1; step <= 3; step++) {
    const g = poison(randoms(n, 10 + step, -scale, scale));
    device.queue.writeBuffer(buffers.grad, 0, g);
    writePackedState(device, state, step, o, settings);
    // the norm kernels must write every variant's norm
    for (let k = 0; k < K; k++) device.queue.writeBuffer(state, (8 * k + 2) * 4, new Float32Array([NaN]));
    program.run();
    idx.forEach((ix, k) => {
      norms[k] = adamwReference(
        ref[k].theta,
        Float64Array.from(ix, (i) => g[i]),
        ref[k].m,
        ref[k].v,
        ref[k].mask,
        { ...o, ...settings[k], step },
      );
    });
  }
  const theta = await read(device, buffers.theta);
  const s = await read(device, state);
  program.destroy();
  for (let i = 0; i < n; i++) if (vid[i] === K) assert.ok(Number.isNaN(theta[i]), `padding ${i} was written`);
  return {
    theta: idx.map((ix, k) => relError(Float64Array.from(ix, (i) => theta[i]), ref[k].theta, 1)),
    norm: norms.map((want, k) => Math.abs(s[8 * k + 2] - want) / want),
    flags: norms.map((_, k) => s[8 * k + 7]),
  };
}

Deno.test("packed AdamW: per-variant norm, clipping, learning rate and decay equal float64 AdamW per variant", async () => {
  const device = await testDevice();
  if (!device) return;
  const r = await packedAgainstFloat64(device, 3, [
    { lr: 0.01, clip: 1, weightDecay: 0.1 }, // clipped: norm ~40 over 490 elements of [-3, 3)
    { lr: 0.003, clip: 0, weightDecay: 0 },
    { lr: 0.02, clip: 1000, weightDecay: 0.05 }, // clip above the norm: no effect
  ]);
  for (let k = 0; k < K; k++) {
    assert.ok(r.theta[k] <= 1e-6, `variant ${k}: theta relative error ${r.theta[k]}`);
    assert.ok(r.norm[k] <= 1e-5, `variant ${k}: norm relative error ${r.norm[k]}`);
  }
  assert.deepEqual(r.flags, [0, 0, 0]);
});

Deno.test("packed AdamW: gradients whose squares overflow f32 are clipped per variant, not skipped", async () => {
  const device = await testDevice();
  if (!device) return;
  // |g| up to 3e19 and 1e30: g * g is infinite in f32, each variant's norm (up to about 2e31) is not
  for (const scale of [3e19, 1e30]) {
    const r = await packedAgainstFloat64(device, scale, [
      { lr: 0.01, clip: 1, weightDecay: 0.1 },
      { lr: 0.003, clip: 0.5, weightDecay: 0 },
      { lr: 0.02, clip: 2, weightDecay: 0.05 },
    ]);
    for (let k = 0; k < K; k++) {
      assert.ok(r.theta[k] <= 1e-6, `${scale}, variant ${k}: theta relative error ${r.theta[k]}`);
      assert.ok(r.norm[k] <= 1e-5, `${scale}, variant ${k}: norm relative error ${r.norm[k]}`);
    }
    assert.deepEqual(r.flags, [0, 0, 0], `${scale}`);
  }
});

Deno.test("packed AdamW: a weight or moment that is not finite flags its own variant only", async () => {
  const device = await testDevice();
  if (!device) return;
  // unclipped gradients of 1e30 overflow v in variant 1 only; variant 2's learning rate is infinite
  const r = await packedAgainstFloat64(device, 1e30, [
    { lr: 0.01, clip: 1, weightDecay: 0.1 },
    { lr: 0.003, clip: 0, weightDecay: 0 },
    { lr: Infinity, clip: 1, weightDecay: 0 },
  ]);
  assert.ok(r.theta[0] <= 1e-6, `variant 0: theta relative error ${r.theta[0]}`);
  assert.deepEqual(r.flags, [0, 1, 1]);
});

Deno.test("dropoutSegments() draws, per segment, the mask dropout() draws alone, on the GPU as in float64", async () => {
  // 3 segments of 5 x 7 (awkward: not a multiple of 4 or 64), seeds as the packed step writes them
  const x = input("x", [K * 5, 7]);
  const seeds = input("seeds", [K]);
  const y = dropoutSegments(x, seeds, 0.4, 12345);
  const seedValues = Float32Array.from([7919 * 11 + 1, 7919 * 12 + 1, 3]);
  const xs = randoms(x.size, 5);
  const feeds = new Map([[x, xs], [seeds, seedValues]]);
  const ref = evaluate([y], feeds).get(y)!;
  const seg = x.size / K;
  for (let k = 0; k < K; k++) {
    const xk = input("xk", [5, 7]);
    const sk = input("sk", [1]);
    const yk = dropout(xk, sk, 0.4, 12345);
    const alone = evaluate(
      [yk],
      new Map([
        [xk, xs.subarray(k * seg, (k + 1) * seg)],
        [sk, seedValues.subarray(k, k + 1)],
      ]),
    ).get(yk)!;
    assert.deepEqual([...ref.subarray(k * seg, (k + 1) * seg)], [...alone], `segment ${k}`);
  }
  const dropped = ref.filter((v) => v === 0).length;
  assert.ok(
    dropped > 0.25 * ref.length && dropped < 0.55 * ref.length,
    `${dropped} of ${ref.length} dropped`,
  );
  assert.ok(gradCheck(y, [x], feeds) <= 1e-6);
  const device = await testDevice();
  if (!device) return;
  const program = await Program.compile(device, [y], { poison: true });
  for (const [n, v] of feeds) program.write(n, v);
  program.run();
  const got = await program.read(y);
  // the same mask exactly; kept values x / (1 - p) in float32
  assert.deepEqual([...got].map((v) => v === 0), [...ref].map((v) => v === 0));
  assert.ok(relError(got, ref) <= 1e-6, `relative error ${relError(got, ref)}`);
  program.destroy();
});

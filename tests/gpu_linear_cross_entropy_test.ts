import assert from "node:assert/strict";
import { toBfloat16 } from "../src/compile/_halves.ts";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { constant, input, type Node, param, type Shape, sizeOf, topo } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { apply, opDef } from "../src/graph/op.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import {
  IGNORE_LABEL,
  KEEP_BYTES,
  linearCrossEntropy,
  type LinearCrossEntropyOptions,
  lossChunk,
} from "../src/graph/ops/linear_cross_entropy.ts";
import { vocabChunks } from "../src/graph/ops/_lce_gpu.ts";
import { gpuVsCpu, gradCheck, randoms, relError, testDevice } from "./_harness.ts";

/**
 * Against float64: the loss to 1e-6 relative, the rounding of f32 dot products of D terms (measured 8e-8 at
 * D = 64, 4.8e-7 at D = 768; the unfused matmul + softmaxCrossEntropy path measured 3.5e-7 at D = 512). The
 * gradients to 5e-4 under relError's 1e-3 floor, the bound the unfused path meets on the same shapes (measured
 * 1.8e-4 for d hidden at V = 1000: rows of softmax minus one-hot cancel).
 */
const LOSS_TOL = 1e-6;
const GRAD_TOL = 5e-4;

interface Case {
  N: number;
  V: number;
  D: number;
  r?: number;
  bias?: boolean;
  chunk: number;
  labels: number[];
  /** Keep the logits between the passes (one node makes them) or make every chunk again for the backward. */
  keep: boolean;
}

/** The op's inputs with random values, the loss, and the gradients of sum(loss * R) for every input. */
function build(c: Case, seed: number) {
  const feeds = new Map<Node, Float32Array>();
  const fed = (name: string, shape: Shape, k: number) => {
    const x = input(name, shape);
    feeds.set(x, randoms(sizeOf(shape), seed + k));
    return x;
  };
  const h = fed("h", [c.N, c.D], 1);
  const W = fed("W", [c.V, c.D], 2);
  const labels = input("labels", [c.N]);
  feeds.set(labels, Float32Array.from(c.labels));
  const options: LinearCrossEntropyOptions = { chunk: c.chunk, keepLogits: c.keep };
  if (c.bias) options.bias = fed("bias", [c.V], 3);
  if (c.r) options.lowRank = { a: fed("a", [c.N, c.r], 4), b: fed("b", [c.V, c.r], 5) };
  const { loss, counted } = linearCrossEntropy(h, W, labels, options);
  const wrt = [
    h,
    W,
    ...(options.bias ? [options.bias] : []),
    ...(c.r ? [options.lowRank!.a, options.lowRank!.b] : []),
  ];
  const g = gradients(sumAll(mul(loss, constant(randoms(c.N, seed + 9), [c.N], "R"))), wrt);
  const kept = topo([loss]).find((n) => n.op === "linear_cross_entropy_logits");
  assert.equal(kept !== undefined, c.keep, "a kept-logits node exactly when asked");
  return { feeds, loss, counted, grads: wrt.map((w) => g.get(w)!), kept };
}

/** The case with its logits kept and made again: loss and gradients against float64, the kept logits too. */
async function check(device: GPUDevice, c: Omit<Case, "keep">, what: string): Promise<void> {
  for (const keep of [false, true]) {
    const { feeds, loss, counted, grads, kept } = build({ ...c, keep }, 10);
    const outs = [loss, counted, ...grads, ...(kept ? [kept] : [])];
    const [eLoss, eCounted, ...eRest] = await gpuVsCpu(device, outs, feeds);
    const at = `${what}, logits ${keep ? "kept" : "made again"}`;
    assert.ok(eLoss <= LOSS_TOL, `${at}: loss relative error ${eLoss} > ${LOSS_TOL}`);
    assert.equal(eCounted, 0, `${at}: counted rows differ`);
    eRest.slice(0, grads.length).forEach((e, k) =>
      assert.ok(e <= GRAD_TOL, `${at}: gradient ${k} relative error ${e} > ${GRAD_TOL}`)
    );
    // each kept logit is one sum of D products that cancel, so it is held elementwise (under relError's
    // floor) to the gradients' bound, not the loss's: measured 5.6e-5 at D = 64, 1.7e-4 at D = 768
    if (kept) {
      const e = eRest[grads.length];
      assert.ok(e <= GRAD_TOL, `${at}: kept logits relative error ${e} > ${GRAD_TOL}`);
    }
  }
}

Deno.test("linearCrossEntropy() matches float64 at vocabulary 50,257 in 12 chunks of 4,096, then 1,024 and 81, D = 64, 7 rows", async () => {
  const device = await testDevice();
  if (!device) return;
  // labels at both ends, on both sides of a chunk boundary and of the last split, in the tail, and ignored
  await check(device, {
    N: 7,
    V: 50257,
    D: 64,
    chunk: 4096,
    labels: [0, 4095, 4096, IGNORE_LABEL, 50175, 50176, 50256],
  }, "V 50257 D 64");
});

Deno.test("the vocabulary's chunks: a last chunk of a length not a multiple of 4 splits at a multiple of 128", () => {
  const lens = (V: number, C: number) => vocabChunks(V, C).map((k) => k.len);
  assert.deepEqual(lens(50257, 16384), [16384, 16384, 16384, 1024, 81]);
  assert.deepEqual(lens(50256, 16384), [16384, 16384, 16384, 1104]);
  assert.deepEqual(lens(301, 128), [128, 128, 45]);
  assert.deepEqual(lens(387, 128), [128, 128, 128, 3]);
  assert.deepEqual(lens(131, 131), [128, 3]);
  const all = vocabChunks(50257, 16384);
  assert.deepEqual(all.map((k) => k.c0), [0, 16384, 32768, 49152, 50176]);
  assert.deepEqual(all.map((k) => [k.first, k.last]), [[true, false], [false, false], [false, false], [
    false,
    false,
  ], [
    false,
    true,
  ]]);
});

Deno.test("linearCrossEntropy() matches float64 at vocabulary 50,257, D = 768, 3 rows, in 7 chunks of 8,192", async () => {
  const device = await testDevice();
  if (!device) return;
  assert.equal(lossChunk(3, 50257), 50304, "3 rows take the vocabulary in one chunk");
  // ... unless the weight's chunk would exceed one binding: 43,648 rows of 768 f32 are 127.9 MiB
  assert.equal(lossChunk(3, 50257, 768), 43648, "a chunk of GPT-2 small's embedding fits one binding");
  await check(
    device,
    { N: 3, V: 50257, D: 768, chunk: 8192, labels: [49152, 17, IGNORE_LABEL] },
    "V 50257 D 768",
  );
});

Deno.test("linearCrossEntropy() with a bias and a low-rank term, D = 66 (scalar kernels), 37 rows in chunks of 128", async () => {
  const device = await testDevice();
  if (!device) return;
  const labels = Array.from({ length: 37 }, (_, i) => i % 5 === 3 ? IGNORE_LABEL : (i * 97) % 300);
  await check(device, { N: 37, V: 300, D: 66, r: 6, bias: true, chunk: 128, labels }, "bias + low rank");
});

Deno.test("linearCrossEntropy() reads a weight stored as f16 or bf16 in chunks: float64 over the rounded weight", async () => {
  const device = await testDevice();
  if (!device) return;
  for (
    const [half, keepLogits] of [["f16", false], ["bf16", false], ["f16", true], ["bf16", true]] as const
  ) {
    const [N, V, D] = [6, 700, 32];
    const h = input("h", [N, D]);
    const W = param("W", [V, D], false);
    const labels = input("labels", [N]);
    const { loss } = linearCrossEntropy(h, W, labels, { chunk: 256, keepLogits });
    const g = gradients(sumAll(mul(loss, constant(randoms(N, 3), [N], "R"))), [h]).get(h)!;
    const values = {
      h: randoms(N * D, 1),
      W: randoms(V * D, 2),
      labels: Float32Array.of(0, 699, 256, 255, 1, 512),
    };
    const store = new ParamStore(device, [{ name: "W", shape: [V, D], trainable: false, half }]);
    store.upload(new Map([["W", values.W]]));
    const program = await Program.compile(device, [loss, g], {
      pinned: new Map([[W, store.slot("W")]]),
      poison: true,
    });
    program.write(h, values.h);
    program.write(labels, values.labels);
    program.run();
    const rounded = half === "f16" ? Float32Array.from(new Float16Array(values.W)) : new Float32Array(
      Uint32Array.from(toBfloat16("W", values.W).subarray(0, V * D), (b) => b << 16).buffer,
    );
    const ref = evaluate(
      [loss, g],
      new Map<Node, Float32Array>([[h, values.h], [W, rounded], [labels, values.labels]]),
    );
    const errs = [
      relError(await program.read(loss), ref.get(loss)!),
      relError(await program.read(g), ref.get(g)!),
    ];
    program.destroy();
    store.destroy();
    assert.ok(errs[0] <= LOSS_TOL, `${half}, kept ${keepLogits}: loss relative error ${errs[0]}`);
    assert.ok(errs[1] <= GRAD_TOL, `${half}, kept ${keepLogits}: d hidden relative error ${errs[1]}`);
  }
});

Deno.test("linearCrossEntropy() ignores label -1: loss exactly 0, not counted, a zero gradient row; a bad label gives NaN", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const keepLogits of [false, true]) await ignoredAndBad(device, keepLogits);
});

async function ignoredAndBad(device: GPUDevice, keepLogits: boolean): Promise<void> {
  const [N, V, D] = [4, 300, 8];
  const h = input("h", [N, D]);
  const W = input("W", [V, D]);
  const labels = input("labels", [N]);
  const { loss, counted } = linearCrossEntropy(h, W, labels, { chunk: 128, keepLogits });
  const g = gradients(sumAll(loss), [h, W]);
  const outputs = [loss, counted, g.get(h)!];
  const program = await Program.compile(device, outputs, { poison: true });
  program.write(h, randoms(N * D, 1));
  program.write(W, randoms(V * D, 2));
  program.write(labels, Float32Array.of(5, IGNORE_LABEL, 299, 300));
  program.run();
  const [l, c, dh] = await Promise.all(outputs.map((o) => program.read(o)));
  program.destroy();
  assert.deepEqual([...c], [1, 0, 1, 1]);
  assert.equal(l[1], 0);
  assert.ok(l[0] > 0 && l[2] > 0, `losses ${l}`);
  assert.ok(Number.isNaN(l[3]), `label 300 of vocabulary 300 gave loss ${l[3]}, not NaN`);
  assert.deepEqual([...dh.subarray(D, 2 * D)], new Array(D).fill(0), "the ignored row's gradient");
  assert.ok(dh.subarray(0, D).some((v) => v !== 0) && dh.subarray(3 * D).every(Number.isNaN));
  assert.throws(
    () =>
      evaluate(
        [loss],
        new Map([[h, randoms(N * D, 1)], [W, randoms(V * D, 2)], [labels, Float32Array.of(5, -1, 299, 2.5)]]),
      ),
    /label 2.5 of row 3 is neither a vocabulary id in \[0, 300\) nor -1/,
  );
}

Deno.test("linear_cross_entropy gradients (hidden, weight, bias, low-rank a and b; loss and lse columns) match finite differences", () => {
  const [N, V, D, r] = [4, 7, 3, 2];
  const feeds = new Map<Node, Float32Array>();
  const fed = (name: string, shape: Shape, seed: number) => {
    const x = input(name, shape);
    feeds.set(x, randoms(sizeOf(shape), seed, -1.5, 1.5));
    return x;
  };
  const [h, W, bias, a, b] = [
    fed("h", [N, D], 1),
    fed("W", [V, D], 2),
    fed("bias", [V], 3),
    fed("a", [N, r], 4),
    fed("b", [V, r], 5),
  ];
  const labels = input("labels", [N]);
  feeds.set(labels, Float32Array.of(6, IGNORE_LABEL, 0, 3));
  // the op's [N, 3] output itself, so sum(out * R) weighs the loss, lse and counted columns
  const ins = [h, W, labels, bias, a, b];
  const attrs = { chunk: 128, bias: true, lowRank: true };
  const out = apply("linear_cross_entropy", ins, attrs);
  const err = gradCheck(out, [h, W, bias, a, b], feeds);
  assert.ok(err <= 1e-6, `relative error ${err}`);
  // with the logits kept: the kept node moves with its inputs, and no gradient flows through it twice
  const kept = apply("linear_cross_entropy", [...ins, apply("linear_cross_entropy_logits", ins, attrs)], {
    ...attrs,
    kept: true,
  });
  const errKept = gradCheck(kept, [h, W, bias, a, b], feeds);
  assert.ok(errKept <= 1e-6, `kept logits: relative error ${errKept}`);
});

Deno.test("linearCrossEntropy() gives the same bits with the logits kept as made again (vec4 and scalar gradient kernels)", async () => {
  const device = await testDevice();
  if (!device) return;
  // chunks of 128, 128 and 44 (vec4 kernel); at V = 301 a last chunk of 45 (scalar kernel); at V = 387 a
  // last 131 split into 128 (vec4) and 3 (scalar); the labels fall in every chunk, one is ignored
  // 12 rows (a multiple of 4): the kept gradient goes transposed to the product with the weight, 9 rows not
  for (const [V, N] of [[300, 9], [301, 9], [387, 9], [300, 12], [387, 12]]) {
    const c = {
      N,
      V,
      D: 12,
      r: 2,
      bias: true,
      chunk: 128,
      labels: [0, 127, 128, 255, 256, V - 1, -1, 3, V - 4, 200, 129, V - 2].slice(0, N),
    };
    const run = async (keep: boolean) => {
      const { feeds, loss, grads } = build({ ...c, keep }, 20);
      const program = await Program.compile(device, [loss, ...grads], { poison: true });
      for (const [n, v] of feeds) program.write(n, v);
      program.run();
      const out = await Promise.all([loss, ...grads].map((o) => program.read(o)));
      program.destroy();
      return out;
    };
    const [made, kept] = [await run(false), await run(true)];
    made.forEach((m, k) =>
      assert.deepEqual(kept[k], m, `V ${V}, N ${N}: output ${k} differs between the two paths`)
    );
  }
});

Deno.test("linearCrossEntropy() keeps the logits when [N, V] is no larger than the weight and 128 MiB, and then makes each chunk once", () => {
  const products = (N: number, D: number, keepLogits?: boolean) => {
    const h = input("h", [N, D]);
    const W = param("W", [1000, D], false);
    const { loss } = linearCrossEntropy(h, W, input("labels", [N]), { chunk: 256, keepLogits });
    const nodes = topo([gradients(sumAll(loss), [h]).get(h)!]);
    const calls = nodes.flatMap((n) => {
      const gpu = n.role === "op" ? opDef(n.op).gpu : undefined; // views have no kernel
      return gpu ? gpu(n.inputs.map((x) => x.shape), n.attrs, n.shape).calls : [];
    });
    return {
      kept: nodes.some((n) => n.op === "linear_cross_entropy_logits"),
      matmuls: calls.filter((c) => c.kernel.startsWith("matmul")).length,
    };
  };
  // 4 chunks of 256: logits made once (4 products) and d hidden (4), against 4 + 4 + 4 made again
  assert.deepEqual(products(64, 64), { kept: true, matmuls: 8 });
  assert.deepEqual(products(65, 64), { kept: false, matmuls: 12 });
  assert.deepEqual(products(65, 64, true), { kept: true, matmuls: 8 });
  assert.deepEqual(products(64, 64, false), { kept: false, matmuls: 12 });
  // and only within KEEP_BYTES: Qwen2.5's 151,936 ids at 256 tokens of width 896 would take 148.4 MiB
  const kept = (N: number, V: number, D: number) => {
    const { loss } = linearCrossEntropy(input("h", [N, D]), param("W", [V, D], false), input("labels", [N]));
    return topo([loss]).some((n) => n.op === "linear_cross_entropy_logits");
  };
  assert.equal(kept(256, 151936, 896), false);
  assert.equal(kept(1024, 32000, 2048), true, "TinyLlama's 125 MiB at 4 x 256 tokens");
  assert.equal(256 * 151936 * 4 > KEEP_BYTES && 1024 * 32000 * 4 <= KEEP_BYTES, true);
});

Deno.test("linearCrossEntropy() refuses a chunk that is not a multiple of 128 and shapes that do not fit", () => {
  const h = input("h", [4, 8]);
  const labels = input("labels", [4]);
  assert.throws(
    () => linearCrossEntropy(h, input("W", [300, 8]), labels, { chunk: 100 }),
    /chunk must be a positive multiple of 128, found 100/,
  );
  assert.throws(
    () => linearCrossEntropy(h, input("W", [300, 9]), labels),
    /expects hidden \[N, D\], weight \[V, D\], labels \[N\]; hidden \[4,8\], weight \[300,9\], labels \[4\]/,
  );
});

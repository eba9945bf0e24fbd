import assert from "node:assert/strict";
import { constant, input, type Node, type Shape, ShapeError, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { apply, type KernelCall, opDef } from "../src/graph/op.ts";
import { add, mul } from "../src/graph/ops/elementwise.ts";
import { layerNorm, layerNormDx } from "../src/graph/ops/layer_norm.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { gpuVsCpu, gradCheck, randoms, relError, testDevice } from "./_harness.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";

/** Reductions: relative error bound against float64. */
const TOL = 1e-4;

function fed(feeds: Map<Node, Float32Array>, shape: Shape, seed: number, lo = -1, hi = 1): Node {
  const x = input(`x${seed}`, shape);
  feeds.set(x, randoms(sizeOf(shape), seed, lo, hi));
  return x;
}

function callOf(n: Node): KernelCall {
  return opDef(n.op).gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape).calls[0];
}

function kernelOf(n: Node): string {
  return callOf(n).kernel;
}

/**
 * x of `shape` and gamma, beta of its row length (seeds `seed`, + 10, + 20), y = layerNorm(x, gamma, beta), and
 * y with the gradients of sum(y * R) for x, gamma and beta (R from `rSeed`).
 */
function layerNormCase(shape: Shape, seed: number, rSeed: number) {
  const feeds = new Map<Node, Float32Array>();
  const len = shape[shape.length - 1];
  const x = fed(feeds, shape, seed, -1, 2);
  const gamma = fed(feeds, [len], seed + 10, 0.5, 1.5);
  const beta = fed(feeds, [len], seed + 20);
  const y = layerNorm(x, gamma, beta);
  const loss = sumAll(mul(y, constant(randoms(y.size, rSeed), y.shape, "R")));
  const g = gradients(loss, [x, gamma, beta]);
  return { feeds, x, gamma, y, outputs: [y, g.get(x)!, g.get(gamma)!, g.get(beta)!] };
}

function assertClose(errs: number[]): void {
  errs.forEach((e, k) => assert.ok(e <= TOL, `output ${k}: relative error ${e} > ${TOL}`));
}

Deno.test("layerNorm() with rows of 4k up to 256 runs a lane a row on vec4s (written out up to 64) and matches float64, gradients too", async () => {
  const device = await testDevice();
  if (!device) return;
  // [33, 64]: more rows than a 32-row workgroup, and the longest row written out; [3, 68]: the shortest row
  // looped over; [2, 256]: the longest lane-mode row; [1, 4]: one vec4.
  const shapes: Shape[] = [[5, 7, 12], [33, 64], [3, 68], [2, 256], [1, 4]];
  for (const [i, shape] of shapes.entries()) {
    const { feeds, x, gamma, y, outputs } = layerNormCase(shape, 10 + i, 99);
    assert.equal(kernelOf(y), "layer_norm_vec");
    assert.equal(kernelOf(layerNormDx(x, gamma, y)), "layer_norm_dx_vec");
    assertClose(await gpuVsCpu(device, outputs, feeds));
  }
  // Rows longer than 256 keep a workgroup a row.
  assert.equal(kernelOf(layerNorm(input("x", [2, 260]), input("g", [260]), input("b", [260]))), "layer_norm");
});

Deno.test("layerNorm() rows of 4k from 260 to 2,048: a workgroup a row on GPUs, a lane a row on CPU adapters; both match float64", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [i, shape] of ([[3, 260], [2, 2, 384], [2, 2048]] as Shape[]).entries()) {
    const { feeds, x, gamma, y, outputs } = layerNormCase(shape, 60 + i, 97);
    for (const n of [y, layerNormDx(x, gamma, y)]) {
      assert.equal(callOf(n).onCpu?.kernel, `${n.op}_vec`, `${n.op} ${shape}`);
    }
    assert.equal(kernelOf(y), "layer_norm");
    const ref = evaluate(outputs, feeds);
    for (const textures of [false, true]) {
      const program = await Program.compile(device, outputs, { poison: true, textures });
      const kernels = program.dispatches.map((d) => d.kernel);
      assert.equal(
        kernels.includes("layer_norm_vec"),
        textures,
        `${shape}, CPU variants ${textures}: ${kernels}`,
      );
      for (const [n, v] of feeds) program.write(n, v);
      program.run();
      const errs = await Promise.all(outputs.map(async (o) => relError(await program.read(o), ref.get(o)!)));
      program.destroy();
      assertClose(errs);
    }
  }
  // past 2,048, or not a multiple of 4: a workgroup a row everywhere
  for (const len of [2052, 262]) {
    const y = layerNorm(input("x", [2, len]), input("g", [len]), input("b", [len]));
    assert.equal(callOf(y).onCpu, undefined, `rows of ${len}`);
  }
});

Deno.test("layerNorm() on vec4s keeps its accuracy when the mean is 1000 times the spread", async () => {
  const device = await testDevice();
  if (!device) return;
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, [3, 200], 50);
  feeds.set(x, feeds.get(x)!.map((v) => 1000 + v));
  const gamma = fed(feeds, [200], 51, 0.5, 1.5);
  const beta = fed(feeds, [200], 52);
  const y = layerNorm(x, gamma, beta);
  const loss = sumAll(mul(y, constant(randoms(y.size, 98), y.shape, "R")));
  const g = gradients(loss, [x, gamma]);
  assertClose(await gpuVsCpu(device, [y, g.get(x)!, g.get(gamma)!], feeds));
});

Deno.test("gradients() add a residual path's gradient inside layer_norm_dx; GPU and finite differences agree", async () => {
  const device = await testDevice();
  // out = x + layerNorm(x) * w: x's gradient is the residual's plus the layer norm's, summed in one kernel
  for (const shape of [[3, 5, 16], [1, 68]] as Shape[]) {
    const feeds = new Map<Node, Float32Array>();
    const len = shape[shape.length - 1];
    const x = fed(feeds, shape, 41, -1, 2);
    const gamma = fed(feeds, [len], 42, 0.5, 1.5);
    const beta = fed(feeds, [len], 43);
    const w = fed(feeds, shape, 44);
    const out = add(x, mul(layerNorm(x, gamma, beta), w));
    // h = 1e-5: at 1e-6 rounding in the loss already shows for rows of 68 (1.7e-6, falling as h grows)
    const err = gradCheck(out, [x], feeds, 7, 1e-5);
    assert.ok(err <= 1e-6, `${shape}: finite differences, relative error ${err}`);
    const loss = sumAll(mul(out, constant(randoms(out.size, 45), out.shape, "R")));
    const dx = gradients(loss, [x]).get(x)!;
    // rows of 68 are not written out: a separate add
    assert.deepEqual([dx.op, dx.inputs.length], len <= 64 ? ["layer_norm_dx", 4] : ["add", 2]);
    if (device) assertClose(await gpuVsCpu(device, [out, dx], feeds));
  }
});

Deno.test("layer_norm_dx names the addend whose shape differs, and refuses one where no kernel takes it", () => {
  const [x, gamma] = [input("x", [3, 8]), input("gamma", [8])];
  assert.throws(
    () => apply("layer_norm_dx", [x, gamma, input("g", [3, 8]), input("r", [8, 3])], { eps: 1e-5 }),
    new ShapeError("layer_norm_dx: addend [8,3] does not match [3,8]"),
  );
  const long = input("y", [2, 68]);
  const node = apply("layer_norm_dx", [long, input("b", [68]), long, long], { eps: 1e-5 });
  assert.throws(
    () => opDef(node.op).gpu!(node.inputs.map((n) => n.shape), node.attrs, node.shape),
    new Error("layer_norm_dx: an addend needs the written-out kernel, which rows of 68 do not get"),
  );
});

import assert from "node:assert/strict";
import { constant, input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { opDef } from "../src/graph/op.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { layerNorm, layerNormDx } from "../src/graph/ops/layer_norm.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

/** Reductions: relative error bound against float64. */
const TOL = 1e-4;

function fed(feeds: Map<Node, Float32Array>, shape: Shape, seed: number, lo = -1, hi = 1): Node {
  const x = input(`x${seed}`, shape);
  feeds.set(x, randoms(sizeOf(shape), seed, lo, hi));
  return x;
}

function kernelOf(n: Node): string {
  return opDef(n.op).gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape).calls[0].kernel;
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
    const feeds = new Map<Node, Float32Array>();
    const len = shape[shape.length - 1];
    const x = fed(feeds, shape, 10 + i, -1, 2);
    const gamma = fed(feeds, [len], 20 + i, 0.5, 1.5);
    const beta = fed(feeds, [len], 30 + i);
    const y = layerNorm(x, gamma, beta);
    assert.equal(kernelOf(y), "layer_norm_vec");
    assert.equal(kernelOf(layerNormDx(x, gamma, y)), "layer_norm_dx_vec");
    const loss = sumAll(mul(y, constant(randoms(y.size, 99), y.shape, "R")));
    const g = gradients(loss, [x, gamma, beta]);
    assertClose(await gpuVsCpu(device, [y, g.get(x)!, g.get(gamma)!, g.get(beta)!], feeds));
  }
  // Rows longer than 256 keep a workgroup a row.
  assert.equal(kernelOf(layerNorm(input("x", [2, 260]), input("g", [260]), input("b", [260]))), "layer_norm");
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

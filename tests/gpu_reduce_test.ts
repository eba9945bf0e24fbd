import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { max, maxGrad, mean, sum, sumAll, sumTo } from "../src/graph/ops/reduce.ts";
import { square } from "../src/graph/ops/unary.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

const TOL = 1e-4;

function fed(shape: Shape, seed: number, map = (v: number) => v): [Node, Map<Node, Float32Array>] {
  const x = input(`x${seed}`, shape);
  return [x, new Map([[x, randoms(sizeOf(shape), seed).map(map)]])];
}

function assertClose(errs: number[], tol: number): void {
  errs.forEach((e, k) => assert.ok(e <= tol, `output ${k}: relative error ${e} > ${tol}`));
}

Deno.test("sum/mean/max() over each axis, short rows, long rows and size-1 axes", async () => {
  const device = await testDevice();
  if (!device) return;
  const cases: [Shape, number[]][] = [
    [[4, 7, 5], [0, 1, 2, -1]],
    [[3, 5001], [1]],
    [[5003, 3], [0]],
    [
      [3, 1, 4],
      [1],
    ],
    [[65], [0]],
    [[2, 300, 2], [1]],
  ];
  for (const [i, [shape, axes]] of cases.entries()) {
    const [x, feeds] = fed(shape, i + 1);
    const outs = axes.flatMap((a) => [sum(x, a), sum(x, a, true), mean(x, a), max(x, a), max(x, a, true)]);
    assertClose(await gpuVsCpu(device, outs, feeds), TOL);
  }
});

Deno.test("max() picks the first of tied maxima, and its gradient goes there only", async () => {
  const device = await testDevice();
  if (!device) return;
  for (
    const [i, [shape, axis]] of ([[[9, 6], 1], [[3, 700], 1], [[301, 4], 0]] as [Shape, number][]).entries()
  ) {
    const [x, feeds] = fed(shape, 20 + i, (v) => Math.round(v * 2)); // values in {-2..2}: many ties
    const g = input("g", max(x, axis).shape);
    feeds.set(g, randoms(g.size, 30 + i, 0.5, 1.5));
    assertClose(await gpuVsCpu(device, [max(x, axis), maxGrad(x, g, axis)], feeds), TOL);
  }
});

Deno.test("sumAll() of small and large tensors (one and two passes)", async () => {
  const device = await testDevice();
  if (!device) return;
  const [a, fa] = fed([1], 40);
  const [b, fb] = fed([7, 13], 41);
  const [c, fc] = fed([70001], 42);
  const [d, fd] = fed([3, 4099], 43, (v) => v + 0.5);
  const feeds = new Map([...fa, ...fb, ...fc, ...fd]);
  assertClose(await gpuVsCpu(device, [sumAll(a), sumAll(b), sumAll(c), sumAll(d)], feeds), TOL);
});

Deno.test("sumTo() undoes broadcasts, including non-adjacent summed axes", async () => {
  const device = await testDevice();
  if (!device) return;
  const [g, feeds] = fed([4, 5, 6, 3], 50);
  const targets: Shape[] = [[5, 1, 3], [3], [], [4, 1, 6, 1], [1, 5, 1, 3], [4, 5, 6, 3], [6, 1], [1]];
  const outs = targets.map((t) => sumTo(g, t));
  outs.forEach((o, k) => assert.deepEqual(o.shape, targets[k]));
  assertClose(await gpuVsCpu(device, outs, feeds), TOL);
});

Deno.test("gradient graphs of reductions run on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  const [x, feeds] = fed([6, 1100], 60);
  const loss = sumAll(mul(square(max(x, 1, true)), sum(mean(x, 0), 0)));
  const [gx] = gradients(loss, [x]).values();
  assertClose(await gpuVsCpu(device, [gx], feeds), TOL);
});

Deno.test("sumTo() and sum() report shapes that do not fit", () => {
  assert.throws(() => sumTo(input("g", [4, 5]), [3]), {
    name: "ShapeError",
    message: "sumTo: cannot reduce [4,5] to [3]",
  });
  assert.throws(() => sum(input("x", [4, 5]), 2), {
    name: "ShapeError",
    message: "sum: axis 2 is out of range for shape [4,5]",
  });
});

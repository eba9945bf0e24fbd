import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { broadcastTo, concat, copy, pad, slice, transpose } from "../src/graph/ops/shape.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

// Data movement is exact: any difference is a wrong index.
const TOL = 0;

function inputs(shapes: Shape[], seed: number): [Node[], Map<Node, Float32Array>] {
  const nodes = shapes.map((s, k) => input(`x${k}`, s));
  return [nodes, new Map(nodes.map((n, k) => [n, randoms(sizeOf(n.shape), seed + k)]))];
}

function assertClose(errs: number[], tol: number): void {
  errs.forEach((e, k) => assert.ok(e <= tol, `output ${k}: relative error ${e} > ${tol}`));
}

Deno.test("copy() and transpose() move every element, up to 6 dims", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[a, b, c], feeds] = inputs([[37, 61], [2, 3, 1, 4, 2, 3], [5, 1, 7]], 1);
  const outs = [
    copy(a),
    transpose(a, [1, 0]),
    transpose(b, [5, 0, 3, 1, 4, 2]),
    transpose(b, [0, 1, 2, 3, 4, 5]),
    transpose(c, [2, 0, 1]),
    transpose(transpose(c, [1, 2, 0]), [2, 0, 1]),
  ];
  assert.deepEqual(outs[2].shape, [3, 2, 4, 3, 2, 1]);
  assertClose(await gpuVsCpu(device, outs, feeds), TOL);
});

Deno.test("broadcastTo() repeats along new and size-1 axes", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[a, b, s], feeds] = inputs([[3, 1], [1, 5, 1, 2], []], 2);
  const outs = [broadcastTo(a, [2, 3, 5]), broadcastTo(b, [3, 5, 4, 2]), broadcastTo(s, [7, 3])];
  assertClose(await gpuVsCpu(device, outs, feeds), TOL);
});

Deno.test("slice(), pad() and concat() along first, middle and last axes", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[a, b, c], feeds] = inputs([[4, 9, 5], [4, 2, 5], [4, 1, 5]], 3);
  const outs = [
    slice(a, 0, 1, 3),
    slice(a, 1, 2, 9),
    slice(a, -1, 4, 5),
    pad(b, 1, 3, 2),
    pad(b, 0, 0, 1),
    pad(c, 2, 2, 0),
    concat([a, b, c], 1),
    concat([b, c, b], -2),
    concat([slice(a, 2, 0, 2), slice(a, 2, 2, 5)], 2),
    concat([a, a], 0),
  ];
  assert.deepEqual(outs[6].shape, [4, 12, 5]);
  assertClose(await gpuVsCpu(device, outs, feeds), TOL);
});

Deno.test("gradient graphs of shape ops run on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  const [[a, b, r], feeds] = inputs([[3, 1, 4], [3, 6, 4], [9, 3, 9]], 4);
  const y = transpose(concat([broadcastTo(a, [3, 2, 4]), slice(b, 1, 1, 5), pad(copy(a), 1, 2, 0)], 1), [
    1,
    0,
    2,
  ]);
  const loss = sumAll(mul(slice(pad(y, 2, 3, 2), 2, 0, 9), r));
  const grads = gradients(loss, [a, b]);
  assertClose(await gpuVsCpu(device, [y, ...grads.values()], feeds), 1e-5);
});

Deno.test("shape ops name the shapes that do not fit", () => {
  const x = input("x", [2, 3]);
  assert.throws(() => transpose(x, [0, 0]), {
    name: "ShapeError",
    message: "transpose: [0,0] is not a permutation of the axes of [2,3]",
  });
  assert.throws(() => slice(x, 1, 2, 4), {
    name: "ShapeError",
    message: "slice: range [2, 4) is not a non-empty part of axis 1 of [2,3]",
  });
  assert.throws(() => concat([x, input("y", [3, 3])], 1), {
    name: "ShapeError",
    message: "concat: shapes [2,3], [3,3] differ outside axis 1",
  });
  assert.throws(() => broadcastTo(x, [3, 3]), {
    name: "ShapeError",
    message: "broadcastTo: cannot broadcast [2,3] to [3,3]",
  });
  assert.throws(() => broadcastTo(x, [3]), {
    name: "ShapeError",
    message: "broadcastTo: cannot broadcast [2,3] to [3]",
  });
});

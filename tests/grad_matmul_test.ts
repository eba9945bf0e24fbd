import assert from "node:assert/strict";
import { input, type Node, sizeOf } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { apply } from "../src/graph/op.ts";
import { linear, matmul } from "../src/graph/ops/matmul.ts";
import { constant } from "../src/graph/node.ts";
import { gpuVsCpu, gradCheck, randoms, testDevice } from "./_harness.ts";

/** float64 central differences (h = 1e-6) against autodiff; matmul is linear in each input, so only rounding. */
const GRAD_TOL = 1e-6;
/** The gradient graph on the GPU against float64: matmul tolerance. */
const GPU_TOL = 1e-4;

function feed(nodes: Node[], seed: number): Map<Node, Float32Array> {
  return new Map(nodes.map((n, i) => [n, randoms(sizeOf(n.shape), seed + i)]));
}

/** Each case: a, b, options; shapes are small and awkward (3, 5, 7), with size-1 and batch dims. */
function cases(): [Node, Node, { transA: boolean; transB: boolean }][] {
  const out: [Node, Node, { transA: boolean; transB: boolean }][] = [];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const [M, K, N] = [3, 5, 2];
      const a = (batch: number[]) => input("a", [...batch, ...(transA ? [K, M] : [M, K])]);
      const b = (batch: number[]) => input("b", [...batch, ...(transB ? [N, K] : [K, N])]);
      out.push([a([]), b([]), { transA, transB }]);
      out.push([a([2]), b([2]), { transA, transB }]);
      // one side 2-D, shared by the batch: its gradient sums over the batch
      out.push([a([2, 1]), b([]), { transA, transB }]);
      out.push([a([]), b([3]), { transA, transB }]);
    }
  }
  return out;
}

Deno.test("matmul() gradients match finite differences for every transpose and batch layout", () => {
  for (const [a, b, opts] of cases()) {
    const err = gradCheck(matmul(a, b, opts), [a, b], feed([a, b], 1));
    assert.ok(err <= GRAD_TOL, `a ${a.shape} b ${b.shape} ${JSON.stringify(opts)}: relative error ${err}`);
  }
});

Deno.test("linear() gradients match finite differences, with and without bias", () => {
  const x = input("x", [2, 3, 4]), W = input("W", [5, 4]), bias = input("bias", [5]), v = input("v", [4]);
  const feeds = feed([x, W, bias, v], 4);
  assert.ok(gradCheck(linear(x, W, bias), [x, W, bias], feeds) <= GRAD_TOL);
  assert.ok(gradCheck(linear(x, W), [x, W], feeds) <= GRAD_TOL);
  assert.ok(gradCheck(linear(v, W, bias), [v, W, bias], feeds) <= GRAD_TOL);
});

Deno.test("matmul() gradient graphs run on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  const outs: Node[] = [];
  const ins: Node[] = [];
  for (const [a, b, opts] of cases()) {
    const y = matmul(a, b, opts);
    const loss = apply("sum_all", [apply("mul", [y, constant(randoms(y.size, 8), y.shape)])]);
    const g = gradients(loss, [a, b]);
    outs.push(g.get(a)!, g.get(b)!);
    ins.push(a, b);
  }
  // Wider shapes so both kernels (vec4 and scalar) take part: x [4, 6, 8] @ W [12, 8]^T.
  const x = input("x", [4, 6, 8]), W = input("W", [12, 8]), bias = input("bias", [12]);
  const y = linear(x, W, bias);
  const loss = apply("sum_all", [apply("mul", [y, constant(randoms(y.size, 9), y.shape)])]);
  const g = gradients(loss, [x, W, bias]);
  outs.push(g.get(x)!, g.get(W)!, g.get(bias)!);
  ins.push(x, W); // the bias gradient does not depend on the bias
  const errs = await gpuVsCpu(device, outs, feed(ins, 2));
  errs.forEach((e, i) => assert.ok(e <= GPU_TOL, `gradient ${i} ${outs[i].shape}: relative error ${e}`));
});

import assert from "node:assert/strict";
import { input, type Node, type Shape, ShapeError, sizeOf } from "../src/graph/node.ts";
import { apply } from "../src/graph/op.ts";
import { linear, matmul } from "../src/graph/ops/matmul.ts";
import type { MatmulBlock } from "../src/graph/ops/_matmul_plan.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

/** Tolerance for matmul against float64: f32 accumulation over up to 1500 terms. */
const TOL = 1e-4;

/** Feeds random values in [-1, 1) for every input. */
function feed(nodes: Node[], seed: number): Map<Node, Float32Array> {
  return new Map(nodes.map((n, i) => [n, randoms(sizeOf(n.shape), seed + i)]));
}

/** a, b shaped for op(a) [M, K] and op(b) [K, N] with the given transposes and batch dims. */
function operands(
  M: number,
  K: number,
  N: number,
  tA: boolean,
  tB: boolean,
  batch: Shape = [],
): [Node, Node] {
  return [
    input("a", [...batch, ...(tA ? [K, M] : [M, K])]),
    input("b", [...batch, ...(tB ? [N, K] : [K, N])]),
  ];
}

const TRANS: [boolean, boolean][] = [[false, false], [false, true], [true, false], [true, true]];

/**
 * Kernel compiles dominate this file's time on a CPU adapter (up to a second each without a shader cache),
 * so the shape tests pin one variant (8x8 per lane, 16x16 tiles, so 17, 65 and 130 span several tiles) and
 * every other block is covered once by the block test.
 */
const PINNED: MatmulBlock = { gm: 2, gn: 2, lanesX: 2, wg: 8 };

function pinned(a: Node, b: Node, transA: boolean, transB: boolean): Node {
  return apply("matmul", [a, b], { transA, transB, block: PINNED });
}

Deno.test("matmul() matches float64 for every transpose and awkward sizes", async () => {
  const device = await testDevice();
  if (!device) return;
  // [M, K, N]: size 1, primes, past-tile sizes (scalar kernel), multiples of 4 (vec4 kernel), M < 4, long K.
  const sizes = [[1, 1, 1], [3, 17, 5], [17, 1, 65], [65, 130, 17], [130, 3, 3], [20, 64, 36], [1, 8, 4], [
    2,
    12,
    8,
  ]];
  const long = [[5, 1500, 7], [8, 1500, 12]];
  for (const [tA, tB] of TRANS) {
    const outs: Node[] = [];
    const ins: Node[] = [];
    for (const [M, K, N] of [...sizes, ...long]) {
      const [a, b] = operands(M, K, N, tA, tB);
      ins.push(a, b);
      outs.push(pinned(a, b, tA, tB));
    }
    const errs = await gpuVsCpu(device, outs, feed(ins, 11));
    errs.forEach((e, i) =>
      assert.ok(e <= TOL, `transA ${tA} transB ${tB} ${outs[i].shape}: relative error ${e}`)
    );
  }
});

Deno.test("matmul() batches over equal batch dims and over a shared 2-D operand", async () => {
  const device = await testDevice();
  if (!device) return;
  const cases: [Node, Node, boolean, boolean][] = [
    [input("a", [3, 17, 9]), input("b", [3, 9, 5]), false, false],
    [input("a", [2, 3, 8, 12]), input("b", [2, 3, 4, 12]), false, true],
    [input("a", [1, 1, 5]), input("b", [1, 5, 1]), false, false],
    // shared weights: x [B, T, K] @ W, folded into one [B*T, K] product
    [input("a", [4, 7, 12]), input("b", [12, 8]), false, false],
    [input("a", [4, 7, 13]), input("b", [5, 13]), false, true],
    // a transposed beside a shared b cannot fold; nor can a shared a beside a batched b
    [input("a", [3, 12, 8]), input("b", [12, 5]), true, false],
    [input("a", [5, 6]), input("b", [3, 6, 7]), false, false],
    [input("a", [6, 5]), input("b", [3, 8, 6]), true, true],
  ];
  const outs = cases.map(([a, b, transA, transB]) => pinned(a, b, transA, transB));
  const errs = await gpuVsCpu(device, outs, feed(cases.flatMap(([a, b]) => [a, b]), 3));
  errs.forEach((e, i) => assert.ok(e <= TOL, `${outs[i].shape}: relative error ${e}`));
});

Deno.test("matmul() folds a batch past 65,535 row tiles into the third grid axis", async () => {
  const device = await testDevice();
  if (!device) return;
  const [a, b] = operands(1, 3, 2, false, false, [70000]);
  const [err] = await gpuVsCpu(device, [matmul(a, b)], feed([a, b], 5));
  assert.ok(err <= TOL, `relative error ${err}`);
});

Deno.test("matmul kernels are right in every register block and lane layout", async () => {
  const device = await testDevice();
  if (!device) return;
  const outs: Node[] = [];
  const ins: Node[] = [];
  // [M, K, N] for the vec4 kernel and for the scalar one, which the cost model runs up to 8x8 per lane.
  const kernels = [{ size: [36, 20, 44], most: 4 }, { size: [37, 21, 43], most: 2 }];
  let k = 0;
  for (const { size: [M, K, N], most } of kernels) {
    for (const gm of [1, 2, 4] as const) {
      for (const gn of [1, 2, 4] as const) {
        if (gm > most || gn > most) continue;
        // Rotate transposes and lane layouts over the blocks.
        const [tA, tB] = TRANS[k % 4];
        const block: MatmulBlock = { gm, gn, lanesX: [1, 2, 4, 8][k % 4], wg: 8 };
        const [a, b] = operands(M, K, N, tA, tB, [2]);
        ins.push(a, b);
        outs.push(apply("matmul", [a, b], { transA: tA, transB: tB, block }));
        k++;
      }
    }
  }
  const errs = await gpuVsCpu(device, outs, feed(ins, 9));
  errs.forEach((e, i) => assert.ok(e <= TOL, `${JSON.stringify(outs[i].attrs)}: relative error ${e}`));
});

Deno.test("linear() is x W^T + b in PyTorch layout", async () => {
  const device = await testDevice();
  if (!device) return;
  const x = input("x", [3, 5, 10]), W = input("W", [6, 10]), bias = input("bias", [6]);
  const v = input("v", [10]);
  const outs = [linear(x, W, bias), linear(x, W), linear(v, W, bias)];
  assert.deepEqual(outs.map((o) => o.shape), [[3, 5, 6], [3, 5, 6], [6]]);
  const errs = await gpuVsCpu(device, outs, feed([x, W, bias, v], 21));
  errs.forEach((e, i) => assert.ok(e <= TOL, `output ${i}: relative error ${e}`));
});

Deno.test("matmul() names both shapes when they do not fit", () => {
  assert.throws(
    () => matmul(input("a", [2, 3]), input("b", [4, 5])),
    new ShapeError(
      "matmul: inner sizes differ for a [2,3] and b [4,5] (transA false, transB false): " +
        "K = 3 from the last axis of a, K = 4 from the second-to-last axis of b",
    ),
  );
  assert.throws(
    () => matmul(input("a", [2, 3]), input("b", [4, 5]), { transA: true, transB: true }),
    new ShapeError(
      "matmul: inner sizes differ for a [2,3] and b [4,5] (transA true, transB true): " +
        "K = 2 from the second-to-last axis of a, K = 5 from the last axis of b",
    ),
  );
  assert.throws(
    () => matmul(input("a", [2, 3, 4]), input("b", [3, 4, 5])),
    new ShapeError(
      "matmul: batch dimensions differ for a [2,3,4] and b [3,4,5]: [2] vs [3]; " +
        "they must be equal, or one operand must be 2-D",
    ),
  );
  assert.throws(
    () => matmul(input("a", [3]), input("b", [3, 4])),
    new ShapeError("matmul: both operands need at least 2 dimensions, found a [3] and b [3,4]"),
  );
  assert.throws(
    () => linear(input("x", [2, 7]), input("W", [6, 10])),
    new ShapeError("linear: x [2,7], weight [6,10]: the last axis of x must be in = 10"),
  );
});

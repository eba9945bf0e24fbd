import assert from "node:assert/strict";
import { input, type Node, type Shape, ShapeError, sizeOf } from "../src/graph/node.ts";
import { apply } from "../src/graph/op.ts";
import { gradients } from "../src/graph/grad.ts";
import { topo } from "../src/graph/node.ts";
import { Program } from "../src/compile/program.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { geluGradOf, linear, matmul, matmul2Add } from "../src/graph/ops/matmul.ts";
import { loraLinear } from "../src/graph/ops/lora.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { gelu } from "../src/graph/ops/unary.ts";
import { constant } from "../src/graph/node.ts";
import { gpuVsCpu, gradCheck, randoms, testDevice } from "./_harness.ts";

/** Matmul against float64: f32 accumulation over up to 72 terms, times gelu' (at most ~1.13). */
const TOL = 1e-4;
/** float64 central differences agree with these gradients to 1e-7 or better. */
const GRAD_TOL = 1e-6;

/** Inputs of the given shapes with values in [lo, hi). */
function inputs(shapes: Shape[], seed: number, lo = -1, hi = 1): [Node[], Map<Node, Float32Array>] {
  const nodes = shapes.map((s, i) => input(`in${i}`, s));
  return [nodes, new Map(nodes.map((n, i) => [n, randoms(sizeOf(n.shape), seed + i, lo, hi)]))];
}

/** [M, K, N, transA, transB, batch]: vec4 sizes, odd sizes (scalar kernel), size 1, a batch, a shared B. */
const CASES: [number, number, number, boolean, boolean, Shape][] = [
  [20, 12, 36, false, true, []],
  [17, 13, 9, false, false, []],
  [12, 8, 20, true, false, [2]],
  [5, 7, 3, true, true, [3]],
  [1, 1, 1, false, false, []],
  [36, 64, 68, false, false, []],
];

function operands(M: number, K: number, N: number, tA: boolean, tB: boolean, batch: Shape): Shape[] {
  return [[...batch, ...(tA ? [K, M] : [M, K])], [...batch, ...(tB ? [N, K] : [K, N])], [...batch, M, N]];
}

Deno.test("matmul_gelu_grad matches float64 for every transpose, odd sizes and batches, and huge x", async () => {
  const device = await testDevice();
  if (!device) return;
  const outs: Node[] = [];
  const feeds = new Map<Node, Float32Array>();
  CASES.forEach(([M, K, N, tA, tB, batch], k) => {
    const [[a, b, x], f] = inputs(operands(M, K, N, tA, tB, batch), 10 * k + 1, -3, 3);
    // x spans gelu's whole range: saturated both ways, and past the kernel's clamp at 1e4
    const xs = f.get(x)!;
    [1e20, -1e20, 1e4, -50].forEach((v, i) => i < xs.length && (xs[(7 * i) % xs.length] = v));
    for (const [n, v] of f) feeds.set(n, v);
    outs.push(apply("matmul_gelu_grad", [a, b, x], { transA: tA, transB: tB }));
  });
  const errs = await gpuVsCpu(device, outs, feeds);
  errs.forEach((e, i) =>
    assert.ok(e <= TOL, `case ${JSON.stringify(CASES[i])}: relative error ${e} > ${TOL}`)
  );
});

Deno.test("matmul_gelu_grad gives bitwise the values of matmul then gelu_grad, a NaN in x included", async () => {
  const device = await testDevice();
  if (!device) return;
  const pairs: Node[] = [];
  const feeds = new Map<Node, Float32Array>();
  CASES.forEach(([M, K, N, tA, tB, batch], k) => {
    const [[a, b, x], f] = inputs(operands(M, K, N, tA, tB, batch), 10 * k + 3, -4, 4);
    f.get(x)![f.get(x)!.length - 1] = NaN;
    for (const [n, v] of f) feeds.set(n, v);
    const g = matmul(a, b, { transA: tA, transB: tB });
    const fused = geluGradOf(x, g);
    assert.equal(fused.op, "matmul_gelu_grad");
    pairs.push(fused, apply("gelu_grad", [x, g]));
  });
  const program = await Program.compile(device, pairs, { poison: true });
  for (const [n, v] of feeds) program.write(n, v);
  program.run();
  for (let i = 0; i < pairs.length; i += 2) {
    const [fused, plain] = [await program.read(pairs[i]), await program.read(pairs[i + 1])];
    // the NaN of x stays in its one element, and only there
    const bad = [...fused.keys()].filter((j) => !Number.isFinite(fused[j]));
    assert.deepEqual(bad, [fused.length - 1], `case ${i / 2}: non-finite outputs at ${bad}`);
    assert.ok(Number.isNaN(fused[fused.length - 1]));
    assert.deepEqual(fused, plain, `case ${i / 2}: fused and separate kernels differ`);
  }
  program.destroy();
});

/** x -> linear -> gelu -> linear, and x also through a second product (a LoRA-like branch), summed. */
function mlp(x: Node, w1: Node, b1: Node, w2: Node, a: Node, bUp: Node): Node {
  const h = gelu(linear(x, w1, b1));
  return linear(linear(x, a), bUp, undefined, linear(h, w2));
}

Deno.test("gradients() fuse gelu's backward into its product and a gradient sum into matmul_add", async () => {
  const device = await testDevice();
  const [[x, w1, b1, w2, a, bUp], feeds] = inputs([[3, 5, 8], [12, 8], [12], [8, 12], [4, 8], [8, 4]], 31);
  const out = mlp(x, w1, b1, w2, a, bUp);
  const wrt = [x, w1, b1, a, bUp];
  const err = gradCheck(out, wrt, feeds);
  assert.ok(err <= GRAD_TOL, `finite differences: relative error ${err} > ${GRAD_TOL}`);
  const loss = sumAll(mul(out, constant(randoms(out.size, 5), out.shape, "R")));
  const grads = gradients(loss, wrt);
  const ops = topo([...grads.values()]).map((n) => n.op);
  assert.ok(ops.includes("matmul_gelu_grad"), `no matmul_gelu_grad among ${ops}`);
  assert.ok(!ops.includes("gelu_grad"), `gelu_grad left among ${ops}`);
  // x gets two contributions (the main path and the branch), summed in a matmul's epilogue
  assert.equal(grads.get(x)!.op, "matmul_add");
  if (!device) return;
  const errs = await gpuVsCpu(device, [...grads.values()], feeds);
  errs.forEach((e, i) => assert.ok(e <= TOL, `gradient ${wrt[i].name}: relative error ${e} > ${TOL}`));
});

Deno.test("matmul_gelu_grad names both shapes when x does not fit the product", () => {
  assert.throws(
    () => apply("matmul_gelu_grad", [input("a", [2, 3]), input("b", [3, 5]), input("x", [5, 2])]),
    new ShapeError("matmul_gelu_grad: x [5,2] must have the product's shape [2,5]"),
  );
});

/** x [..., K], W [N, K], h [..., r], B [N, r] and addends for x W^T + h B^T + addends. */
function second(lead: Shape, K: number, N: number, r: number, seed: number) {
  const [[x, w, h, b, bias, res], feeds] = inputs(
    [[...lead, K], [N, K], [...lead, r], [N, r], [N], [...lead, N]],
    seed,
  );
  return { x, w, h, b, bias, res, feeds };
}

Deno.test("matmul2_add matches float64 over register blocks and lane layouts, with 0 to 2 addends", async () => {
  const device = await testDevice();
  if (!device) return;
  const outs: Node[] = [];
  const feeds = new Map<Node, Float32Array>();
  // 37 rows and 44 columns: partial tiles in both directions; K = 20, rank 8 and 4. Each row and column
  // count of 4x4 blocks a lane appears (compiles dominate on a CPU adapter, so not all nine pairs).
  let k = 0;
  const blocks = [[1, 1], [2, 4], [4, 1], [1, 2], [4, 4]] as const;
  for (const [gm, gn] of blocks) {
    const t = second(k % 2 ? [37] : [37, 1], 20, 44, k % 2 ? 8 : 4, 100 + 10 * k);
    const addends = [[], [t.bias], [t.bias, t.res]][k % 3];
    for (const n of [t.x, t.w, t.h, t.b, ...addends]) feeds.set(n, t.feeds.get(n)!);
    const block = { gm, gn, lanesX: [1, 2, 4, 8][k % 4], wg: 8 };
    outs.push(
      apply("matmul2_add", [t.x, t.w, t.h, t.b, ...addends], { transA: false, transB: true, block }),
    );
    k++;
  }
  // the cost model's own picks on the shapes of a ViT qkv with LoRA and on a small odd batch
  for (
    const [lead, K, N, r] of [[[64, 16], 64, 192, 8], [[3, 5], 12, 20, 4]] as [
      Shape,
      number,
      number,
      number,
    ][]
  ) {
    const t = second(lead, K, N, r, 200 + k++);
    for (const [n, v] of t.feeds) feeds.set(n, v);
    outs.push(matmul2Add(t.x, t.w, t.h, t.b, [t.bias, t.res], { transB: true })!);
  }
  const errs = await gpuVsCpu(device, outs, feeds);
  errs.forEach((e, i) =>
    assert.ok(e <= TOL, `${JSON.stringify(outs[i].attrs)}: relative error ${e} > ${TOL}`)
  );
});

Deno.test("matmul2_add gradients match finite differences for both products and both addends", () => {
  const t = second([2, 3], 8, 12, 4, 300);
  const out = matmul2Add(t.x, t.w, t.h, t.b, [t.bias, t.res], { transB: true })!;
  assert.equal(out.op, "matmul2_add");
  const err = gradCheck(out, [t.x, t.w, t.h, t.b, t.bias, t.res], t.feeds);
  assert.ok(err <= GRAD_TOL, `relative error ${err} > ${GRAD_TOL}`);
});

Deno.test("loraLinear() fuses its first branch into the frozen product only where the vec4 kernel can", () => {
  const x = input("x", [2, 5, 8]), w = input("w", [12, 8]), bias = input("bias", [12]);
  const branch = (r: number) => ({ A: input("A", [r, 8]), B: input("B", [12, r]), scale: 0.5 });
  assert.equal(loraLinear(x, w, bias, [branch(4)]).op, "matmul2_add");
  // rank 3: K2 % 4 != 0, so the up projection stays a matmul_add after the frozen one
  assert.equal(matmul2Add(x, w, input("h", [2, 5, 3]), input("B", [12, 3]), [], { transB: true }), undefined);
  assert.equal(loraLinear(x, w, bias, [branch(3)]).op, "matmul_add");
});

Deno.test("matmul2_add names both shapes when the second product does not fit the first", () => {
  const [x, w, h, b] = [input("x", [6, 8]), input("w", [12, 8]), input("h", [5, 4]), input("b", [12, 4])];
  assert.throws(
    () => apply("matmul2_add", [x, w, h, b], { transB: true }),
    new ShapeError("matmul2_add: the second product's shape [5,12] differs from the first's [6,12]"),
  );
});

import assert from "node:assert/strict";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program } from "../src/compile/program.ts";
import { toHalves } from "../src/compile/_halves.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { input, type Node, param, sizeOf } from "../src/graph/node.ts";
import { apply } from "../src/graph/op.ts";
import { add } from "../src/graph/ops/elementwise.ts";
import { linear } from "../src/graph/ops/matmul.ts";
import type { MatmulBlock } from "../src/graph/ops/_matmul_plan.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

/**
 * Against a float64 reference over the f16-rounded weights the only error left is f32 accumulation, so the
 * tolerance is the f32 matmul test's (up to 1500 terms).
 */
const TOL = 1e-4;

/** One variant for the shape sweep, as in gpu_matmul_test.ts (kernel compiles dominate on a CPU adapter). */
const PINNED: MatmulBlock = { gm: 2, gn: 2, lanesX: 2, wg: 8 };

/** `values` as f16 would hold them, back in f32. */
function rounded(values: Float32Array): Float32Array {
  return Float32Array.from(new Float16Array(values));
}

/**
 * Runs `outputs` with the weights `ws` stored as f16 in a ParamStore (outputs NaN-poisoned), and the float64
 * reference with the f16-rounded weights; returns the relative errors, and those against unrounded weights.
 */
async function halfVsCpu(
  device: GPUDevice,
  outputs: Node[],
  xs: Map<Node, Float32Array>,
  ws: Map<Node, Float32Array>,
): Promise<{ errs: number[]; unrounded: number[] }> {
  const store = new ParamStore(device, [...ws.keys()].map((w) => ({ ...w, half: true })));
  store.upload(new Map([...ws].map(([w, v]) => [w.name, v])));
  const pinned = new Map([...ws.keys()].map((w) => [w, store.slot(w.name)]));
  const program = await Program.compile(device, outputs, { pinned, poison: true });
  for (const [n, v] of xs) program.write(n, v);
  program.run();
  const ref = evaluate(outputs, new Map([...xs, ...[...ws].map(([w, v]) => [w, rounded(v)] as const)]));
  const plain = evaluate(outputs, new Map([...xs, ...ws]));
  const errs: number[] = [];
  const unrounded: number[] = [];
  for (const o of outputs) {
    const got = await program.read(o);
    errs.push(relError(got, ref.get(o)!));
    unrounded.push(relError(got, plain.get(o)!));
  }
  program.destroy();
  store.destroy();
  return { errs, unrounded };
}

Deno.test("matmul() with B stored as f16 matches float64 over the rounded weights, every transpose", async () => {
  const device = await testDevice();
  if (!device) return;
  // [M, K, N]: odd sizes (scalar kernel, odd element counts), multiples of 4 (vec4 kernel), a long K.
  const sizes = [[1, 1, 1], [3, 17, 5], [17, 1, 65], [65, 130, 17], [20, 64, 36], [2, 12, 8], [8, 1500, 12]];
  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
    const outs: Node[] = [];
    const xs = new Map<Node, Float32Array>();
    const ws = new Map<Node, Float32Array>();
    sizes.forEach(([M, K, N], i) => {
      const a = input("a", tA ? [K, M] : [M, K]);
      const w = param(`w${i}`, tB ? [N, K] : [K, N], false);
      xs.set(a, randoms(M * K, 100 + i));
      ws.set(w, randoms(K * N, 200 + i));
      outs.push(apply("matmul", [a, w], { transA: tA, transB: tB, block: PINNED }));
    });
    const { errs, unrounded } = await halfVsCpu(device, outs, xs, ws);
    errs.forEach((e, i) => assert.ok(e <= TOL, `transA ${tA} transB ${tB} ${sizes[i]}: relative error ${e}`));
    // the kernel reads the halves: against the unrounded weights the long product is off by far more
    assert.ok(unrounded.at(-1)! > 10 * TOL, `against unrounded weights: ${unrounded.at(-1)}`);
  }
});

Deno.test("linear() with an f16 weight: the step's forward (bias in the epilogue) and backward products", async () => {
  const device = await testDevice();
  if (!device) return;
  const cases: [number[], number, number][] = [[[4, 7, 12], 12, 8], [[3, 5, 13], 13, 7], [
    [64, 16, 64],
    64,
    192,
  ]];
  const outs: Node[] = [];
  const xs = new Map<Node, Float32Array>();
  const ws = new Map<Node, Float32Array>();
  cases.forEach(([shape, inF, outF], i) => {
    const x = input("x", shape);
    const bias = input("bias", [outF]);
    const g = input("g", [...shape.slice(0, -1), outF]);
    const W = param(`W${i}`, [outF, inF], false);
    xs.set(x, randoms(sizeOf(shape), 300 + i));
    xs.set(bias, randoms(outF, 400 + i));
    xs.set(g, randoms(sizeOf(g.shape), 500 + i));
    ws.set(W, randoms(outF * inF, 600 + i, -0.1, 0.1));
    // forward x W^T + b (matmul_add, transB) and the input gradient g W (matmul, plain B)
    outs.push(linear(x, W, bias), apply("matmul", [g, W], {}));
  });
  const { errs } = await halfVsCpu(device, outs, xs, ws);
  errs.forEach((e, i) => assert.ok(e <= TOL, `${outs[i].op} ${outs[i].shape}: relative error ${e}`));
});

Deno.test("an f16 weight read by an op that cannot unpack it is refused when the program is compiled", async () => {
  const device = await testDevice();
  if (!device) return;
  const W = param("W", [4, 4], false);
  const store = new ParamStore(device, [{ ...W, half: true }]);
  await assert.rejects(
    () => Program.compile(device, [add(W, input("x", [4, 4]))], { pinned: new Map([[W, store.slot("W")]]) }),
    { message: "add add: input 0 (W) is stored in 16 bits, which this op cannot read" },
  );
  store.destroy();
});

Deno.test("toHalves() rounds to nearest even and names a weight f16 cannot hold", () => {
  // 1 + 2^-11 is halfway between f16 neighbours 1 and 1 + 2^-10: ties go to the even one (1)
  assert.deepEqual([...toHalves("w", Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, -2]))], [
    0x3c00,
    0x3c02,
    0xc000,
    0,
  ]);
  assert.throws(() => toHalves("blocks.0.mlp.fc1.weight", Float32Array.from([0, 70000])), {
    message:
      `parameter blocks.0.mlp.fc1.weight: element 1 is 70000, beyond f16's range (±65504): keep frozen weights in f32 (frozenDtype "f32")`,
  });
  assert.throws(() => toHalves("w", Float32Array.from([NaN])), {
    message: "parameter w: element 0 is NaN, not finite",
  });
});

import assert from "node:assert/strict";
import { Program } from "../src/compile/program.ts";
import { input, type Node, sizeOf } from "../src/graph/node.ts";
import { apply } from "../src/graph/op.ts";
import { type MatmulBlock, matmulDims, plannedCall } from "../src/graph/ops/_matmul_plan.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { gpu } from "../src/gpu/device.ts";
import { prefersTextures, textureReads } from "../src/gpu/operand_textures.ts";
import { subgroupLanes } from "../src/gpu/subgroups.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

/** Tolerance against float64, as in tests/gpu_matmul_test.ts (the bitwise checks are the tighter ones). */
const TOL = 1e-4;

/** Whether this device runs the shared-B variant; says so when it does not (it needs 8-lane subgroups). */
async function sharedRuns(device: GPUDevice): Promise<boolean> {
  if (subgroupLanes(device) === 8 && textureReads(device)) return true;
  console.warn(
    `shared-B matmul not run here: ${(await gpu()).adapter.description} has no fixed 8-lane subgroups`,
  );
  return false;
}

Deno.test("a lavapipe device is acquired with subgroups of 8 lanes", async () => {
  const device = await testDevice();
  if (!device) return;
  const { adapter } = await gpu();
  if (!prefersTextures(adapter.description)) return;
  // without them the matmuls fall back to per-lane loads, silently slower: fail instead
  assert.equal(
    subgroupLanes(device),
    8,
    `${adapter.description}: subgroups ${device.features.has("subgroups")}`,
  );
});

/** Runs `outs` compiled as `textures` says; the outputs' values. */
async function run(
  device: GPUDevice,
  outs: Node[],
  feeds: Map<Node, Float32Array>,
  textures: boolean,
): Promise<{ values: Float32Array[]; workgroups: (readonly number[])[] }> {
  const program = await Program.compile(device, outs, { poison: true, textures });
  for (const [n, v] of feeds) program.write(n, v);
  program.run();
  const values = await Promise.all(outs.map((o) => program.read(o)));
  const workgroups = program.dispatches.map((d) => d.workgroups);
  program.destroy();
  return { values, workgroups };
}

Deno.test("shared-B matmul: every register block and transpose, to the bit of the per-lane kernel", async () => {
  const device = await testDevice();
  if (!device || !(await sharedRuns(device))) return;
  const ins: Node[] = [];
  const shared: Node[] = [];
  const plain: Node[] = [];
  let k = 0;
  // M, N not multiples of the tiles (8 lanes x 4 gm rows, 4 gn columns); 37 rows where A is plain
  for (const gm of [1, 2, 4] as const) {
    for (const gn of [1, 2, 4] as const) {
      const [tA, tB] = [[false, false], [false, true], [true, false], [true, true]][k++ % 4];
      const [M, K, N] = [tA ? 36 : 37, 60, 44];
      const a = input("a", [2, ...(tA ? [K, M] : [M, K])]);
      const b = input("b", tB ? [N, K] : [K, N]);
      ins.push(a, b);
      const block = (sharedB: boolean): MatmulBlock => ({ gm, gn, lanesX: 1, wg: 8, sharedB });
      shared.push(apply("matmul", [a, b], { transA: tA, transB: tB, block: block(true) }));
      plain.push(apply("matmul", [a, b], { transA: tA, transB: tB, block: block(false) }));
    }
  }
  const feeds = new Map(ins.map((n, i) => [n, randoms(sizeOf(n.shape), 31 + i)]));
  const ref = evaluate(shared, feeds);
  const [got, want] = [await run(device, shared, feeds, true), await run(device, plain, feeds, true)];
  shared.forEach((o, i) => {
    const what = JSON.stringify(o.attrs);
    assert.deepEqual(got.values[i], want.values[i], `${what}: shared and per-lane sums differ`);
    const e = relError(got.values[i], ref.get(o)!);
    assert.ok(e <= TOL, `${what}: relative error ${e}`);
  });
});

Deno.test("the cost model's matmuls run shared on CPU adapters, with addends, a second product and gelu'", async () => {
  const device = await testDevice();
  if (!device || !(await sharedRuns(device))) return;
  const [M, K, N, R] = [70, 48, 52, 8];
  const x = input("x", [M, K]);
  const w = input("w", [N, K]);
  const bias = input("bias", [N]);
  const res = input("res", [M, N]);
  const down = input("down", [M, R]);
  const up = input("up", [N, R]);
  const outs = [
    apply("matmul", [x, w], { transB: true }),
    apply("matmul_add", [x, w, bias, res], { transB: true }),
    apply("matmul2_add", [x, w, down, up, bias], { transB: true }),
    apply("matmul_gelu_grad", [x, w, res], { transB: true }),
  ];
  const feeds = new Map([x, w, bias, res, down, up].map((n, i) => [n, randoms(sizeOf(n.shape), 70 + i)]));
  const ref = evaluate(outs, feeds);
  // the per-lane kernels over storage buffers (no textures, no CPU variants): the same sums
  const [got, want] = [await run(device, outs, feeds, true), await run(device, outs, feeds, false)];
  const d = matmulDims([M, K], [N, K], false, true).dims;
  const call = plannedCall(d);
  assert.notDeepEqual(
    call.onCpu!.workgroups,
    call.workgroups,
    "pick a shape where the grids tell the variants apart",
  );
  outs.forEach((o, i) => {
    assert.deepEqual(got.workgroups[i], call.onCpu!.workgroups, `${o.op} did not run the shared variant`);
    assert.deepEqual(got.values[i], want.values[i], `${o.op}: shared and per-lane sums differ`);
    const e = relError(got.values[i], ref.get(o)!);
    assert.ok(e <= TOL, `${o.op}: relative error ${e}`);
  });
});

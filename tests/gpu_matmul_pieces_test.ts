/**
 * A matmul whose transposed weight is larger than one binding (a tied output projection [V, D] making logits
 * [M, V]): one call per piece of the weight's rows, each writing its columns of the output.
 */
import assert from "node:assert/strict";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program } from "../src/compile/program.ts";
import { toBfloat16, toHalves } from "../src/compile/_halves.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { input, type Node, param } from "../src/graph/node.ts";
import { apply, type Half, opDef } from "../src/graph/op.ts";
import { PIECE_BYTES, pieceRows } from "../src/graph/ops/_binding.ts";
import type { MatmulBlock } from "../src/graph/ops/_matmul_plan.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

/**
 * f32 sums of at most 100 products against float64 over the same weights, as tests/gpu_matmul_test.ts (the
 * error is relative to 1e-3 of the largest output near zero, where sums cancel).
 */
const TOL = 1e-4;
const PINNED: MatmulBlock = { gm: 2, gn: 2, lanesX: 2, wg: 8 };

/** The f32 values a weight holds in the store. */
function held(half: Half, name: string, v: Float32Array): Float32Array {
  if (!half) return v;
  if (half === "f16") {
    return Float32Array.from(new Float16Array(toHalves(name, v).buffer).subarray(0, v.length));
  }
  return new Float32Array(Uint32Array.from(toBfloat16(name, v).subarray(0, v.length), (b) => b << 16).buffer);
}

/** Runs `outs` (reading `w` from a store in `half`) with outputs poisoned; returns what they read. */
async function run(
  device: GPUDevice,
  outs: Node[],
  w: Node,
  wv: Float32Array,
  half: Half,
  feeds: Map<Node, Float32Array>,
): Promise<Float32Array[]> {
  const store = new ParamStore(device, [{ name: w.name, shape: w.shape, trainable: false, half }]);
  try {
    store.upload(new Map([[w.name, wv]]));
    const program = await Program.compile(device, outs, {
      pinned: new Map([[w, store.slot(w.name)]]),
      poison: true,
    });
    for (const [n, v] of feeds) program.write(n, v);
    program.run();
    const got = await Promise.all(outs.map((o) => program.read(o)));
    program.destroy();
    return got;
  } finally {
    store.destroy();
  }
}

Deno.test("matmul() reads a transposed weight over one binding in pieces of rows, each writing its columns", async () => {
  const device = await testDevice();
  if (!device) return;
  // [M, K] x [N, K]^T: odd N and K (scalar kernel, a row stride not a multiple of 4), multiples of 4 (vec4),
  // a batch folded into M; pieces of 64 or 128 rows so every product crosses several piece boundaries
  const cases: { a: number[]; N: number; K: number; pieceBytes: number }[] = [
    { a: [5, 37], N: 1001, K: 37, pieceBytes: 20000 },
    { a: [2, 3, 64], N: 600, K: 64, pieceBytes: 40000 },
    { a: [1, 100], N: 389, K: 100, pieceBytes: 30000 },
  ];
  for (const half of [false, "f16", "bf16"] as const) {
    for (const [i, { a: ashape, N, K, pieceBytes }] of cases.entries()) {
      const at = `${half || "f32"} a [${ashape}] w [${N}, ${K}]`;
      const bytes = half ? 2 : 4;
      const rows = pieceRows(N, K, bytes, pieceBytes);
      assert.ok(rows * 2 < N, `${at}: three pieces or more (${rows} rows a piece)`);
      const a = input("a", ashape);
      const w = param(`w${i}`, [N, K], false);
      const split = apply("matmul", [a, w], { transB: true, pieceBytes });
      const pinnedSplit = apply("matmul", [a, w], { transB: true, pieceBytes, block: PINNED });
      const whole = apply("matmul", [a, w], { transB: true, block: PINNED });
      const M = ashape.slice(0, -1).reduce((x, y) => x * y, 1);
      const low = opDef("matmul").gpu!([ashape, [N, K]], { transB: true, pieceBytes }, split.shape, [
        false,
        half,
      ]);
      assert.equal(low.calls.length, Math.ceil(N / rows), `${at}: one call per piece`);
      low.calls.forEach((c, k) => {
        const [wb, cb] = [c.bind[1], c.bind[2]] as { offset: number; size: number }[];
        assert.deepEqual([wb.offset, cb.offset], [k * rows * K * bytes, k * rows * 4], at);
        assert.ok(wb.offset % 256 === 0 && cb.offset % 256 === 0 && wb.size <= pieceBytes, at);
        assert.ok(cb.offset + cb.size <= M * N * 4, `${at}: piece ${k} writes within the output`);
      });

      const av = randoms(M * K, 10 + i);
      const wv = randoms(N * K, 20 + i, -2, 2);
      const [got, gotPinned, gotWhole] = await run(
        device,
        [split, pinnedSplit, whole],
        w,
        wv,
        half,
        new Map([[a, av]]),
      );
      const ref = evaluate([split], new Map([[a, av], [w, held(half, w.name, wv)]])).get(split)!;
      const e = relError(got, ref);
      assert.ok(e <= TOL, `${at}: relative error ${e}`); // NaN (an unwritten, poisoned element) fails too
      // the same kernel variant over pieces computes each element's sum in the same order as one call
      assert.deepEqual(gotPinned, gotWhole, `${at}: pieces and one call differ`);
    }
  }
});

Deno.test("matmul() binds GPT-2's tied 147 MiB embedding in two pieces, each within one binding", () => {
  const [M, V, D] = [7, 50257, 768];
  for (const [half, count] of [[false, 2], ["bf16", 1]] as const) {
    const low = opDef("matmul").gpu!([[M, D], [V, D]], { transB: true }, [M, V], [false, half]);
    assert.equal(low.calls.length, count, `${half}`);
    let next = 0;
    for (const c of low.calls) {
      if (count === 1) break;
      const wb = c.bind[1] as { offset: number; size: number };
      assert.ok(wb.size <= PIECE_BYTES && wb.offset === next * D * 4, JSON.stringify(wb));
      next += wb.size / (D * 4);
    }
    if (count > 1) assert.equal(next, V, "the pieces cover every row once");
  }
  // a plain (not transposed) weight, or one under a batch of its own, is left whole
  assert.equal(opDef("matmul").gpu!([[M, V], [V, D]], {}, [M, D], [false, false]).calls.length, 1);
});

/**
 * bf16 frozen weights: rounding to bf16 for upload, and the matmul kernels reading them (bf16 is the upper
 * half of an f32, so a bf16 checkpoint's weights are held exactly in half the bytes).
 */
import assert from "node:assert/strict";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program } from "../src/compile/program.ts";
import { toBfloat16 } from "../src/compile/_halves.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { input, type Node, param } from "../src/graph/node.ts";
import { apply } from "../src/graph/op.ts";
import type { MatmulBlock } from "../src/graph/ops/_matmul_plan.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

/** f32 accumulation over up to 1500 terms against float64 over the same (bf16-exact) weights. */
const TOL = 1e-4;
const PINNED: MatmulBlock = { gm: 2, gn: 2, lanesX: 2, wg: 8 };

/** bf16 bits back to f32 values. */
function fromBfloat16(bits: Uint16Array): Float32Array {
  const words = new Uint32Array(bits.length);
  bits.forEach((b, i) => (words[i] = b << 16));
  return new Float32Array(words.buffer);
}

Deno.test("toBfloat16() rounds to nearest even, keeps bf16 values exactly and refuses what bf16 cannot hold", () => {
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1; 1 + 3 * 2^-8 goes up to 1 + 2^-6
  const v = Float32Array.of(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 0, -0, 3e38, 1e-40);
  // 3e38 = 1.7632 x 2^127: 8 bits of mantissa give 1.765625; 1e-40 (subnormal) is nearest 2^-133
  const want = [1, 1, 1 + 2 ** -6, -2.5, 0, -0, 1.765625 * 2 ** 127, 2 ** -133];
  assert.deepEqual([...fromBfloat16(toBfloat16("w", v))], want);
  const exact = fromBfloat16(toBfloat16("w", randoms(1001, 3, -50, 50)));
  assert.deepEqual(fromBfloat16(toBfloat16("w", exact)).subarray(0, 1001), exact.subarray(0, 1001));
  assert.equal(toBfloat16("w", new Float32Array(3)).length, 4, "padded to whole words");
  assert.throws(() => toBfloat16("q.weight", Float32Array.of(0, NaN)), {
    message: "parameter q.weight: element 1 is NaN, not finite",
  });
  assert.throws(() => toBfloat16("q.weight", Float32Array.of(3.4e38)), {
    message: "parameter q.weight: element 0 is 3.3999999521443642e+38, beyond bf16's range",
  });
});

Deno.test("matmul() with B stored as bf16 matches float64 over the bf16 weights, every transpose", async () => {
  const device = await testDevice();
  if (!device) return;
  // odd sizes (the scalar kernel, odd element counts), multiples of 4 (the vec4 kernel), a long K
  const sizes = [[1, 1, 1], [3, 17, 5], [17, 1, 65], [65, 130, 17], [20, 64, 36], [8, 1500, 12]];
  for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
    const outs: Node[] = [];
    const xs = new Map<Node, Float32Array>();
    const ws = new Map<Node, Float32Array>();
    sizes.forEach(([M, K, N], i) => {
      const a = input("a", tA ? [K, M] : [M, K]);
      const w = param(`w${i}`, tB ? [N, K] : [K, N], false);
      xs.set(a, randoms(M * K, 100 + i));
      ws.set(w, randoms(K * N, 200 + i)); // rounded by the store
      outs.push(apply("matmul", [a, w], { transA: tA, transB: tB, block: PINNED }));
    });
    const store = new ParamStore(device, [...ws.keys()].map((w) => ({ ...w, half: "bf16" as const })));
    store.upload(new Map([...ws].map(([w, v]) => [w.name, v])));
    const pinned = new Map([...ws.keys()].map((w) => [w, store.slot(w.name)]));
    const program = await Program.compile(device, outs, { pinned, poison: true });
    for (const [n, v] of xs) program.write(n, v);
    program.run();
    const bf = [...ws].map(([w, v]) =>
      [w, fromBfloat16(toBfloat16(w.name, v)).subarray(0, v.length)] as const
    );
    const ref = evaluate(outs, new Map([...xs, ...bf]));
    const plain = evaluate(outs, new Map([...xs, ...ws]));
    for (const [i, o] of outs.entries()) {
      const got = await program.read(o);
      const e = relError(got, ref.get(o)!);
      assert.ok(e <= TOL, `transA ${tA} transB ${tB} ${sizes[i]}: relative error ${e}`);
      // the kernel reads bf16: against the unrounded weights the long product is off by far more
      if (i === sizes.length - 1) assert.ok(relError(got, plain.get(o)!) > 10 * TOL);
    }
    program.destroy();
    store.destroy();
  }
});

import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { opDef } from "../src/graph/op.ts";
import { attention, attentionGrad } from "../src/graph/ops/attention.ts";
import { gpuVsCpu, gradCheck, randoms, testDevice } from "./_harness.ts";

/** Reductions: relative error bound against float64. */
const TOL = 1e-4;

function fed(
  feeds: Map<Node, Float32Array>,
  name: string,
  shape: Shape,
  seed: number,
  lo = -1,
  hi = 1,
): Node {
  const x = input(name, shape);
  feeds.set(x, randoms(sizeOf(shape), seed, lo, hi));
  return x;
}

function kernelsOf(n: Node): string[] {
  return opDef(n.op).gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape).calls.map((c) => c.kernel);
}

// [B, T, d, heads, causal, kernels of the forward and the backward]: head lanes (written-out kernels) for
// T <= 32 and T dh <= 256, token lanes otherwise; vec4 elements when dh divides by 4, floats otherwise.
const CASES: [number, number, number, number, boolean, string, string][] = [
  [3, 8, 32, 2, false, "attention_head", "attention_head_grad"], // dh = 16: vec4
  [2, 9, 15, 3, true, "attention_head", "attention_head_grad"], // dh = 5: floats
  [1, 1, 8, 2, true, "attention_head", "attention_head_grad"], // one token
  [2, 37, 8, 2, true, "attention", "attention_grad"], // T > 32
  [1, 9, 72, 2, false, "attention", "attention_grad"], // T dh = 324, vec4
  [2, 6, 99, 1, true, "attention", "attention_grad"], // T dh = 594, floats
];

Deno.test("attention_core and attention_core_grad match float64 on head and token lanes, vec4 and float", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [i, [B, T, d, heads, causal, fwd, bwd]] of CASES.entries()) {
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, "qkv", [B, T, 3 * d], 10 + i, -2, 2);
    const g = fed(feeds, "g", [B, T, d], 20 + i);
    const y = attention(qkv, { heads, causal });
    const dqkv = attentionGrad(qkv, g, { heads, causal });
    assert.deepEqual([kernelsOf(y), kernelsOf(dqkv)], [[fwd], bwd === "attention_grad" ? [bwd, bwd] : [bwd]]);
    const errs = await gpuVsCpu(device, [y, dqkv], feeds);
    errs.forEach((e, k) => assert.ok(e <= TOL, `case ${i} output ${k}: relative error ${e} > ${TOL}`));
  }
});

Deno.test("attention_core_grad is the gradient of attention_core (finite differences, float64)", () => {
  for (const causal of [false, true]) {
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, "qkv", [2, 4, 15], 7, -2, 2);
    const err = gradCheck(attention(qkv, { heads: 5, causal }), [qkv], feeds);
    assert.ok(err <= 1e-6, `causal ${causal}: relative error ${err}`);
  }
});

Deno.test("attention_core_grad names both shapes when the gradient does not fit", () => {
  assert.throws(
    () => attentionGrad(input("qkv", [2, 3, 12]), input("g", [2, 3, 5]), { heads: 2, causal: false }),
    {
      name: "ShapeError",
      message: "attention_core_grad: gradient [2,3,5] does not match the output [2, 3, 4] of qkv [2,3,12]",
    },
  );
});

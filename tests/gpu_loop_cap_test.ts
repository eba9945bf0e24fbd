import assert from "node:assert/strict";
import { gpu } from "../src/gpu/device.ts";
import { loopCap, measureLoopCap, setLoopCap } from "../src/gpu/loop_cap.ts";
import { Program } from "../src/compile/program.ts";
import { input, type Node } from "../src/graph/node.ts";
import { attention, attentionGrad, laneLoops } from "../src/graph/ops/attention.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

Deno.test("a device measures its loop cap when acquired: lavapipe stops an invocation's loops at 65,535", async () => {
  const device = await testDevice();
  if (!device) return;
  const cap = loopCap(device);
  assert.equal(cap, await measureLoopCap(device));
  if ((await gpu()).adapter.software) assert.equal(cap, 65535);
});

Deno.test("attention's token lanes count their loops: head width 64 is not capped below 21,000 positions", () => {
  // widths up to 64 (16 vec4s) are unrolled: keys alone count
  assert.equal(laneLoops("main", 2304, 64), 2304);
  assert.equal(laneLoops("grad_q", 2304, 64), 3 * 2304);
  // width 128: 32 vec4s a loop, and one iteration to leave it
  assert.equal(laneLoops("main", 1000, 128), 1000 * 67 + 66);
  assert.equal(laneLoops("grad_q", 400, 128), 400 * (3 + 4 * 33) + 66);
  assert.equal(laneLoops("grad_kv", 400, 128), 400 * 34 + 33);
});

Deno.test("a program refuses attention that would pass the loop cap, and the refused shape is one the adapter gets wrong", async () => {
  const device = await testDevice();
  if (!device) return;
  const cap = loopCap(device);
  if (cap === undefined) return; // an adapter without a cap runs every shape
  const feeds = (T: number, d: number) => {
    const qkv = input("qkv", [1, T, 3 * d]);
    return { qkv, feeds: new Map<Node, Float32Array>([[qkv, randoms(T * 3 * d, 7, -2, 2)]]) };
  };
  // 1,000 positions of width 128: 67,066 iterations a lane, refused before anything runs
  const long = feeds(1000, 128);
  await assert.rejects(
    Program.compile(device, [attention(long.qkv, { heads: 1, causal: false })]),
    (e: Error) => {
      assert.equal(e.name, "RangeError");
      assert.match(e.message, /kernel attention may run 67066 loop iterations in one invocation/);
      assert.match(e.message, new RegExp(`stops an invocation's loops after ${cap} `));
      return true;
    },
  );
  // the backward at 400 positions (52,716 in grad_q) runs, and matches float64
  const short = feeds(400, 128);
  const g = input("g", [1, 400, 128]);
  short.feeds.set(g, randoms(400 * 128, 8));
  const y = attention(short.qkv, { heads: 1, causal: true });
  const dqkv = attentionGrad(short.qkv, g, { heads: 1, causal: true });
  const errs = await gpuVsCpu(device, [y, dqkv], short.feeds);
  // f32 sums over 400 keys of scores up to about 20 (measured 1.8e-4 forward, against 1e-4 at 37 keys)
  errs.forEach((e, k) => assert.ok(e <= 5e-4, `output ${k}: relative error ${e}`));
  // with the cap forgotten, the refused shape runs and comes back wrong: the check guards a real failure
  setLoopCap(device, undefined);
  try {
    const [err] = await gpuVsCpu(device, [attention(long.qkv, { heads: 1, causal: false })], long.feeds);
    assert.ok(!(err <= 1e-2), `relative error ${err}: this adapter ran the refused shape right`);
  } finally {
    setLoopCap(device, cap);
  }
});

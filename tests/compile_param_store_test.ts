/** The parameter store: frozen weights in pools of buffers, each within a byte limit, read back exactly. */
import assert from "node:assert/strict";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program, type Slot } from "../src/compile/program.ts";
import { input, type Node, param } from "../src/graph/node.ts";
import { add } from "../src/graph/ops/elementwise.ts";
import { gather } from "../src/graph/ops/gather.ts";
import { randoms, testDevice } from "./_harness.ts";

Deno.test("frozen weights fill pools up to the byte limit; every tensor reads back and binds from its pool", async () => {
  const device = await testDevice();
  if (!device) return;
  // pools of 4 KiB: [300] (1,280 bytes aligned) and [5, 30] (768) share one, [40, 30] (4,864) is alone
  // (larger than a pool), [17] starts the next
  const infos = [
    { name: "a", shape: [300], trainable: false },
    { name: "b", shape: [5, 30], trainable: false },
    { name: "big", shape: [40, 30], trainable: false },
    { name: "t", shape: [9], trainable: true },
    { name: "c", shape: [17], trainable: false },
    { name: "h", shape: [4, 70], trainable: false, half: true },
  ];
  const store = new ParamStore(device, infos, 4096);
  try {
    assert.deepEqual(store.frozen.map((b) => b.size), [1280 + 768, 4864, 256]);
    assert.deepEqual(store.halves.map((b) => b.size), [768]);
    assert.equal(store.bytes.frozen, 1280 + 768 + 4864 + 256 + 768);
    const pools = ["a", "b", "big", "c"].map((n) => store.frozen.indexOf(store.slot(n).buffer));
    assert.deepEqual(pools, [0, 0, 1, 2]);
    assert.equal(store.slot("b").offset, 1280);
    const values = new Map(infos.map((p, i) => [p.name, randoms(p.shape.reduce((a, b) => a * b), 20 + i)]));
    store.upload(values);
    const back = await store.download();
    for (const [name, v] of values) assert.deepEqual(back.get(name), v, name);

    // a program reading weights of different pools through their slots
    const nodes = new Map<string, Node>(infos.map((p) => [p.name, param(p.name, p.shape, p.trainable)]));
    const idx = input("idx", [3]);
    const y = add(gather(nodes.get("big")!, idx), gather(nodes.get("b")!, idx));
    const pinned = new Map<Node, Slot>(["big", "b"].map((n) => [nodes.get(n)!, store.slot(n)]));
    const program = await Program.compile(device, [y], { pinned, poison: true });
    program.write(idx, Float32Array.of(4, 0, 2));
    program.run();
    const got = await program.read(y);
    program.destroy();
    const [big, b] = [values.get("big")!, values.get("b")!];
    const want = [4, 0, 2].flatMap((r) =>
      [...big.subarray(r * 30, r * 30 + 30)].map((x, c) => x + b[r * 30 + c])
    );
    assert.deepEqual(got, Float32Array.from(want));
  } finally {
    store.destroy();
  }
});

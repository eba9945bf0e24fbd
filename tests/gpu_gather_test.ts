import assert from "node:assert/strict";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { input, type Node } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { gather, gatherGrad } from "../src/graph/ops/gather.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import { gpuVsCpu, randoms, testDevice } from "./_harness.ts";

/** `n` exact integer indices in [0, rows), with repeats. */
function indices(n: number, rows: number, seed: number): Float32Array {
  return randoms(n, seed, 0, rows).map(Math.floor);
}

Deno.test("gather() picks rows and gather_grad() sums repeated rows", async () => {
  const device = await testDevice();
  if (!device) return;
  const table = input("table", [11, 7]);
  const idx = input("idx", [3, 50]);
  const g = input("g", [3, 50, 7]);
  const feeds = new Map<Node, Float32Array>([
    [table, randoms(77, 1)],
    [idx, indices(150, 11, 2)],
    [g, randoms(1050, 3)],
  ]);
  const errs = await gpuVsCpu(
    device,
    [gather(table, idx), gatherGrad(idx, g, 11), gatherGrad(idx, g, 13)],
    feeds,
  );
  assert.ok(errs[0] === 0, `gather error ${errs[0]}`);
  errs.slice(1).forEach((e) => assert.ok(e <= 1e-5, `gather_grad relative error ${e}`));
});

Deno.test("gather() gradient graph runs on the GPU", async () => {
  const device = await testDevice();
  if (!device) return;
  const table = input("table", [256, 5]);
  const idx = input("idx", [1031]);
  const r = input("r", [1031, 5]);
  const feeds = new Map<Node, Float32Array>([
    [table, randoms(1280, 4)],
    [idx, indices(1031, 256, 5)],
    [r, randoms(5155, 6)],
  ]);
  const y = gather(table, idx);
  const [gt] = gradients(sumAll(mul(mul(y, y), r)), [table]).values();
  const [ey, eg] = await gpuVsCpu(device, [y, gt], feeds);
  assert.ok(ey === 0, `gather error ${ey}`);
  assert.ok(eg <= 1e-4, `table gradient relative error ${eg}`); // a sum over repeated rows, as reductions
});

Deno.test("gather() writes zeros on the GPU and throws on the CPU for an index outside the table", async () => {
  const device = await testDevice();
  if (!device) return;
  const table = input("table", [3, 2]);
  const idx = input("idx", [4]);
  const y = gather(table, idx);
  const program = await Program.compile(device, [y], { poison: true });
  program.write(table, Float32Array.of(1, 2, 3, 4, 5, 6));
  program.write(idx, Float32Array.of(2, 3, -1, 0));
  program.run();
  assert.deepEqual([...await program.read(y)], [5, 6, 0, 0, 0, 0, 1, 2]);
  program.destroy();
  const feeds = new Map([[table, Float32Array.of(1, 2, 3, 4, 5, 6)], [idx, Float32Array.of(2, 3, -1, 0)]]);
  assert.throws(() => evaluate([y], feeds), {
    name: "RangeError",
    message: "gather: index 3 at position 1 is outside the table's 3 rows",
  });
});

Deno.test("gather() and gather_grad() check shapes", () => {
  assert.throws(() => gather(input("t", [4]), input("i", [2])), {
    name: "ShapeError",
    message: "gather: table must be [rows, d], found [4]",
  });
  assert.throws(() => gatherGrad(input("i", [2, 3]), input("g", [2, 4, 5]), 7), {
    name: "ShapeError",
    message: "gather_grad: gradient [2,4,5] does not match indices [2,3] + [d]",
  });
});

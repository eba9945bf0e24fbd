import assert from "node:assert/strict";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { input, type Node } from "../src/graph/node.ts";
import { gradients } from "../src/graph/grad.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { gather, gatherGrad, PIECE_BYTES, pieceRows } from "../src/graph/ops/gather.ts";
import { opDef } from "../src/graph/op.ts";
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

Deno.test("a table larger than one binding is read and its gradient written in pieces of rows", async () => {
  const device = await testDevice();
  if (!device) return;
  // GPT-2's vocabulary, an awkward width: 149.4 MiB of f32, over WebGPU's 128 MiB binding
  const [rows, d] = [50257, 771];
  const piece = pieceRows(rows, d);
  assert.ok(rows * d * 4 > PIECE_BYTES && piece < rows, `one piece of ${piece} rows`);
  const table = input("table", [rows, d]);
  const picks = [0, piece - 1, piece, piece + 1, rows - 1, 7, piece, 12345, 49999, piece - 1];
  const idx = input("idx", [picks.length]);
  const g = input("g", [picks.length, d]);
  for (
    const [op, shapes] of [["gather", [[rows, d], [picks.length]]], ["gather_grad", [[picks.length], [
      picks.length,
      d,
    ]]]] as const
  ) {
    const out = op === "gather" ? [picks.length, d] : [rows, d];
    const low = opDef(op).gpu!(shapes.map((s) => [...s]), { rows }, out, [false, false]);
    assert.equal(low.calls.length, 2, `${op}: one call per piece`);
    for (const c of low.calls) for (const b of c.bind) assert.ok(!("size" in b) || b.size! <= PIECE_BYTES);
  }
  const feeds = new Map<Node, Float32Array>([
    [table, randoms(rows * d, 11)],
    [idx, Float32Array.from(picks)],
    [g, randoms(picks.length * d, 12)],
  ]);
  const [ey, eg] = await gpuVsCpu(device, [gather(table, idx), gatherGrad(idx, g, rows)], feeds);
  assert.ok(ey === 0, `gather error ${ey}`);
  assert.ok(eg <= 1e-6, `gather_grad relative error ${eg}`); // at most two terms a row (piece - 1 repeats)

  // indices outside the whole table read zeros, whichever piece's call runs last
  const y = gather(table, idx);
  const program = await Program.compile(device, [y], { poison: true });
  program.write(table, feeds.get(table)!);
  const bad = [-1, rows, piece, rows + 5, 0, -3, rows - 1, piece - 1, 2 * rows, 3];
  program.write(idx, Float32Array.from(bad));
  program.run();
  const got = await program.read(y);
  program.destroy();
  const t = feeds.get(table)!;
  bad.forEach((v, r) => {
    const want = v >= 0 && v < rows ? t.subarray(v * d, (v + 1) * d) : new Float32Array(d);
    assert.deepEqual(got.subarray(r * d, (r + 1) * d), want, `index ${v} at position ${r}`);
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

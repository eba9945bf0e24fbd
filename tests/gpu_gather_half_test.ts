/**
 * gather over frozen tables kept in 16 bits (f16, bf16): read exactly, in pieces of rows over one binding, and
 * chosen by halfWeights wherever every consumer of the table can read 16 bits.
 */
import assert from "node:assert/strict";
import { halfWeights, sharedHalfWeights } from "../src/compile/half_weights.ts";
import { ParamStore } from "../src/compile/param_store.ts";
import { Program } from "../src/compile/program.ts";
import { toBfloat16, toHalves } from "../src/compile/_halves.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { input, type Node, param } from "../src/graph/node.ts";
import { apply, type Half, opDef } from "../src/graph/op.ts";
import { add } from "../src/graph/ops/elementwise.ts";
import { gather, PIECE_BYTES, pieceRows } from "../src/graph/ops/gather.ts";
import { linearCrossEntropy } from "../src/graph/ops/linear_cross_entropy.ts";
import { randoms, testDevice } from "./_harness.ts";

/** The f32 values a 16-bit table holds after upload (the store rounds f32 to nearest even). */
function stored(half: Exclude<Half, false>, name: string, v: Float32Array): Float32Array {
  if (half === "f16") {
    return Float32Array.from(new Float16Array(toHalves(name, v).buffer).subarray(0, v.length));
  }
  const bits = toBfloat16(name, v);
  return new Float32Array(Uint32Array.from(bits.subarray(0, v.length), (b) => b << 16).buffer);
}

/** Values either format holds at its edges: signed zero, subnormals, the largest finite, a third. */
const EDGES: Record<Exclude<Half, false>, number[]> = {
  f16: [-0, 2 ** -24, -(2 ** -20), 65504, -65504, 1 / 3, 2 ** -14],
  bf16: [-0, 1e-40, -(2 ** -130), 3.3e38, -3e38, 1 / 3, 2 ** -126],
};

Deno.test("gather() reads f16 and bf16 tables exactly, indices across piece boundaries and outside the table", async () => {
  const device = await testDevice();
  if (!device) return;
  // odd widths and element counts; small pieces (the real limit is 128 MiB) so every table has several
  const cases: [number, number, number][] = [[1001, 37, 20000], [300, 5, 1500], [7, 3, PIECE_BYTES]];
  for (const half of ["f16", "bf16"] as const) {
    for (const [rows, d, pieceBytes] of cases) {
      const step = pieceRows(rows, d, 2, pieceBytes);
      const edges = [0, rows - 1, step - 1, step, step + 1, 2 * step - 1, 2 * step, rows - step];
      const inside = edges.filter((v) => v >= 0 && v < rows);
      const picks = [...inside, -1, rows, rows + 2, -3, 2 * rows, ...inside.reverse(), 3 % rows];
      const at = `${half} [${rows}, ${d}] in pieces of ${step} rows`;
      if (pieceBytes !== PIECE_BYTES) assert.ok(step < rows / 2, `${at}: three pieces or more`);
      const values = randoms(rows * d, rows + d, -4, 4);
      EDGES[half].forEach((v, i) => (values[(i * 131) % values.length] = v));
      const table = param(`table_${rows}`, [rows, d], false);
      const idx = input("idx", [picks.length]);
      const y = apply("gather", [table, idx], { pieceBytes });
      const low = opDef("gather").gpu!([[rows, d], [picks.length]], { pieceBytes }, y.shape, [half, false]);
      assert.equal(low.calls.length, Math.ceil(rows / step), `${at}: one call per piece`);

      const store = new ParamStore(device, [{
        name: table.name,
        shape: table.shape,
        trainable: false,
        half,
      }]);
      try {
        store.upload(new Map([[table.name, values]]));
        const program = await Program.compile(device, [y], {
          pinned: new Map([[table, store.slot(table.name)]]),
          poison: true,
        });
        program.write(idx, Float32Array.from(picks));
        program.run();
        const got = await program.read(y);
        program.destroy();
        // float64 over the 16-bit values, zeros for indices outside the table
        const held = stored(half, table.name, values);
        const clamped = Float32Array.from(picks, (v) => v >= 0 && v < rows ? v : 0);
        const lookup = gather(table, idx);
        const ref = evaluate([lookup], new Map([[table, held], [idx, clamped]])).get(lookup)!;
        const want = Float32Array.from(ref);
        picks.forEach((v, r) => {
          if (!(v >= 0 && v < rows)) want.fill(0, r * d, (r + 1) * d);
        });
        // bit for bit: signed zeros, subnormals and unwritten (NaN-poisoned) elements all show
        assert.deepEqual(
          new Uint32Array(got.buffer, got.byteOffset, got.length),
          new Uint32Array(want.buffer),
          at,
        );
      } finally {
        store.destroy();
      }
    }
  }
});

Deno.test("gather() over Qwen2.5's bf16 embedding binds it in three pieces within one binding each", () => {
  const [rows, d, n] = [151936, 896, 512];
  for (const [half, count] of [["bf16", 3], [false, 5]] as const) {
    const low = opDef("gather").gpu!([[rows, d], [n]], {}, [n, d], [half, false]);
    assert.equal(low.calls.length, count, `${half}`);
    let next = 0;
    for (const c of low.calls) {
      const t = c.bind[1] as { offset: number; size: number };
      assert.ok(t.size <= PIECE_BYTES && t.offset % 256 === 0, JSON.stringify(t));
      assert.equal(t.offset, next * d * (half ? 2 : 4));
      next += t.size / (d * (half ? 2 : 4));
    }
    assert.equal(next, rows, "the pieces cover every row once");
  }
});

Deno.test("halfWeights() keeps a frozen embedding, tied or not, in 16 bits when every reader takes 16 bits", () => {
  const [V, D, N] = [300, 8, 6];
  const names = (outputs: Node[], dtype: "bf16" | "f16" = "bf16") =>
    [...halfWeights(outputs, dtype).keys()].map((p) => p.name).sort();
  const ids = input("ids", [N]);
  const labels = input("labels", [N]);
  const tied = param("embed", [V, D], false);
  const h = gather(tied, ids);
  assert.deepEqual(names([linearCrossEntropy(h, tied, labels).loss]), ["embed"]);
  // untied: the head and the table
  const head = param("head", [V, D], false);
  assert.deepEqual(names([linearCrossEntropy(gather(tied, ids), head, labels).loss], "f16"), [
    "embed",
    "head",
  ]);
  // a reader that needs f32 (an add of the whole table), or a trainable table, keeps it f32
  assert.deepEqual(names([linearCrossEntropy(h, tied, labels).loss, add(tied, tied)]), []);
  const trained = param("embed", [V, D], true);
  assert.deepEqual(names([linearCrossEntropy(gather(trained, ids), trained, labels).loss]), []);
  // a store that two programs read keeps in 16 bits what both can read, by name
  const loss = (t: Node) => linearCrossEntropy(gather(t, ids), head, labels).loss;
  const other = param("embed", [V, D], false);
  assert.deepEqual([...sharedHalfWeights([[loss(tied)], [loss(other)]], "bf16")].sort(), [["embed", "bf16"], [
    "head",
    "bf16",
  ]]);
  assert.deepEqual([...sharedHalfWeights([[loss(tied)], [loss(other), add(other, other)]], "bf16")], [[
    "head",
    "bf16",
  ]]);
});

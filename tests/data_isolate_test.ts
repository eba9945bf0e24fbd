/** `packing: isolate`: the layout of `pack`, segment starts, and per-token positions in training and validation batches. */
import assert from "node:assert/strict";
import { packExamples, plainPositions, segmentPositions } from "../src/data/packing.ts";
import { textBatch, textValidationBatches } from "../src/data/batch.ts";
import type { TextDomain } from "../src/data/domain.ts";

// five examples of lengths 3, 3, 7 (cut to 5), 2 and 4 (its only trained id is cut off: dropped), as in
// data_chat_test's packing test
const ids = Int32Array.from({ length: 19 }, (_, i) => 100 + i);
const offsets = Float64Array.from([0, 3, 6, 13, 15, 19]);
const trained = Uint8Array.from([1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
const context = 4; // windows of 5 ids: [0, 4], [4, 8], [8, 12], ...

Deno.test("isolate lays examples out as pack does and marks each example's start and the id after it", () => {
  const pack = packExamples(ids, offsets, trained, { first: 0, last: 5 }, context, "pack", -7);
  const iso = packExamples(ids, offsets, trained, { first: 0, last: 5 }, context, "isolate", -7);
  assert.deepEqual([iso.ids, iso.trained, iso.stats], [pack.ids, pack.trained, pack.stats]);
  assert.equal(pack.starts, undefined);
  // ids: 100 101 102 -7 | 103 104 105 -7 | 106 107 108 109 110 | 113 114 -7 -7 (example 2 ends on the id
  // window 3 shares; example 3 follows it)
  assert.deepEqual([...iso.starts!], [1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0]);
  assert.equal(
    packExamples(ids, offsets, trained, { first: 0, last: 2 }, context, "pad", 0).starts,
    undefined,
  );
});

Deno.test("positions restart at each segment and at each window's first id", () => {
  const starts = Uint8Array.from([1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0]);
  const out = new Float32Array(4 * context).fill(NaN);
  for (let w = 0; w < 4; w++) segmentPositions(starts, w, context, out, w * context);
  // window 0: 100 101 102 -7; window 1: 103 104 105 -7; window 2: 106 107 108 109;
  // window 3: 110 (example 2's last id, alone) 113 114 -7
  assert.deepEqual([...out], [0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 3, 0, 0, 1, 0]);
  assert.deepEqual([...plainPositions(2, 3)], [0, 1, 2, 0, 1, 2]);
});

Deno.test("training and validation batches carry positions when a domain isolates, 0..T-1 in other rows", () => {
  const iso = packExamples(ids, offsets, trained, { first: 0, last: 5 }, context, "isolate", -7);
  const pack = packExamples(ids, offsets, trained, { first: 0, last: 5 }, context, "pack", -7);
  const isolated: TextDomain = {
    name: "iso",
    kind: "text",
    train: iso.ids,
    trainMask: iso.trained,
    trainStarts: iso.starts,
    validation: iso.ids,
    validationMask: iso.trained,
    validationStarts: iso.starts,
  };
  const plain: TextDomain = {
    name: "plain",
    kind: "text",
    train: pack.ids,
    trainMask: pack.trained,
    validation: pack.ids,
  };
  const draw = {
    domain: Int32Array.from([0, 1, 0]),
    index: Int32Array.from([3, 3, 0]),
    weight: new Float32Array(3),
  };
  const batch = textBatch([isolated, plain], draw, context);
  assert.deepEqual([...batch.positions!], [0, 0, 1, 0, 0, 1, 2, 3, 0, 1, 2, 0]);
  // the same draw without an isolated domain has no positions, and the same ids and targets
  const without = textBatch([{ ...isolated, trainStarts: undefined }, plain], draw, context);
  assert.equal(without.positions, undefined);
  assert.deepEqual([without.tokens, without.targets], [batch.tokens, batch.targets]);

  const batches = [...textValidationBatches(iso.ids, context, 3, iso.trained, iso.starts)];
  assert.deepEqual(batches.map((b) => b.rows), [3, 1]);
  assert.deepEqual([...batches[0].positions!], [0, 1, 2, 0, 0, 1, 2, 0, 0, 1, 2, 3]);
  assert.deepEqual([...batches[1].positions!], [0, 0, 1, 0]);
  assert.equal([...textValidationBatches(iso.ids, context, 3, iso.trained)][0].positions, undefined);
});

import assert from "node:assert/strict";
import { imageBatch, textBatch, textValidationBatches } from "../src/data/batch.ts";
import { domainSize, domainSizes, textWindows } from "../src/data/domain.ts";
import { textDomain } from "../src/data/transforms/text.ts";
import { imageDomain } from "../src/data/transforms/images.ts";
import { Sampler } from "../src/data/sampler.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

Deno.test("textWindows() counts non-overlapping windows of context + 1 bytes", () => {
  assert.equal(textWindows(9, 4), 2); // windows [0..4], [4..8]
  assert.equal(textWindows(8, 4), 1); // [4..8] would need byte 8
  assert.equal(textWindows(4, 4), 0);
  assert.equal(domainSize(textDomain("a", bytes("abcdefghi")), 4), 2);
});

Deno.test("textBatch() fills tokens and next-byte targets from each row's window", () => {
  const domains = [textDomain("a", bytes("abcdefghi")), textDomain("b", bytes("0123456789"))];
  const draw = {
    domain: Int32Array.from([1, 0, 1]),
    index: Int32Array.from([1, 0, 0]),
    weight: Float32Array.from([1, 2, 3]),
  };
  const batch = textBatch(domains, draw, 4);
  const code = (s: string): number[] => [...bytes(s)];
  assert.deepEqual([...batch.tokens], [...code("4567"), ...code("abcd"), ...code("0123")]);
  assert.deepEqual([...batch.targets], [...code("5678"), ...code("bcde"), ...code("1234")]);
  assert.deepEqual(batch.domain, draw.domain);
  assert.deepEqual(batch.weight, draw.weight);
  assert.throws(() => textBatch(domains, { ...draw, index: Int32Array.from([2, 0, 0]) }, 4), {
    name: "RangeError",
    message: 'draw row 0 asks for window 2 of domain 1, but there are 2 domains and "b" has 2 windows',
  });
});

Deno.test("textValidationBatches() covers every validation window in order", () => {
  const rows = [...textValidationBatches(bytes("abcdefghijklm"), 4, 2)]; // 3 windows -> 2 + 1 rows
  assert.deepEqual(rows.map((r) => r.rows), [2, 1]);
  assert.equal(String.fromCharCode(...rows[1].tokens), "ijkl");
  assert.equal(String.fromCharCode(...rows[1].targets), "jklm");
});

Deno.test("imageBatch() gathers sampled images, labels and domain ids", () => {
  const make = (offset: number) => ({
    images: Float32Array.from({ length: 3 * 4 }, (_, i) => offset + i),
    labels: Int32Array.from([offset, offset + 1, offset + 2]),
    side: 2,
  });
  const domains = [imageDomain("hr", make(0)), imageDomain("lr", make(100))];
  const sizes = domainSizes(domains);
  assert.deepEqual(sizes, [3, 3]);
  const sampler = new Sampler({
    sizes,
    strategy: { kind: "weights", weights: [0.5, 0.5] },
    steps: 1,
    seed: 0,
  });
  const draw = sampler.next(6, 0);
  const batch = imageBatch(domains, draw);
  for (let b = 0; b < 6; b++) {
    const d = draw.domain[b];
    const k = draw.index[b];
    assert.equal(batch.labels[b], domains[d].labels[k]);
    assert.deepEqual(batch.images.subarray(b * 4, b * 4 + 4), domains[d].images.subarray(k * 4, k * 4 + 4));
  }
  assert.equal(batch.side, 2);
});

Deno.test("domainSize() and domainSizes() reject empty and mismatched domains with exact messages", () => {
  const cases: [() => unknown, string][] = [
    [
      () => domainSize(textDomain("vi", bytes("abc")), 8),
      'domain "vi" is empty: it has 3 training bytes, fewer than one window of context + 1 = 9 bytes',
    ],
    [() => domainSizes([]), "a mix needs at least one domain, found none"],
    [
      () => domainSizes([textDomain("a", bytes("abcdef")), textDomain("a", bytes("abcdef"))], 2),
      'domain names must be unique, found "a" twice',
    ],
    [
      () =>
        domainSizes([
          imageDomain("x", { images: new Float32Array(4), labels: new Int32Array(1), side: 2 }),
          textDomain("t", bytes("abcdef")),
        ], 2),
      'domains must all be of one kind: "x" is images, "t" is text',
    ],
  ];
  for (const [fn, message] of cases) assert.throws(fn, { name: "DataError", message });
});

import assert from "node:assert/strict";
import { readSafetensors, SafetensorsError, writeSafetensors } from "../src/adapters/safetensors.ts";

function bits(x: Float32Array): Uint32Array {
  return new Uint32Array(x.slice().buffer);
}

/** A file from a header object and a data region, for corrupt-file cases. */
function craft(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, message: string): void {
  assert.throws(
    () => readSafetensors(bytes),
    (e: Error) => e instanceof SafetensorsError && e.message === message,
  );
}

Deno.test("writeSafetensors() writes the documented byte layout", () => {
  const bytes = writeSafetensors({ x: { shape: [2], data: Float32Array.of(1, -2) } }, { format: "pt" });
  const header = '{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  // 85 bytes of JSON padded with 3 spaces to 88, a multiple of 8
  assert.equal(header.length, 85);
  assert.deepEqual(Array.from(bytes.subarray(0, 8)), [88, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(new TextDecoder().decode(bytes.subarray(8, 96)), header + "   ");
  // 1.0f = 0x3f800000 and -2.0f = 0xc0000000, little-endian
  assert.deepEqual(Array.from(bytes.subarray(96)), [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
});

Deno.test("readSafetensors() round-trips tensors bit for bit", () => {
  const special = new Uint32Array([0x7fc00001, 0xffffffff, 0x80000000, 0x00000001, 0x7f800000, 0x3eaaaaab]);
  const tensors = {
    "b.weight": { shape: [2, 3], data: new Float32Array(special.buffer) },
    "a.bias": { shape: [3], data: Float32Array.of(0.1, -1e-30, 3.4e38) },
    "scalar": { shape: [], data: Float32Array.of(7) },
    "empty": { shape: [0, 4], data: new Float32Array(0) },
  };
  const back = readSafetensors(writeSafetensors(tensors, { format: "pt", note: "x" }));
  assert.deepEqual(back.metadata, { format: "pt", note: "x" });
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    assert.deepEqual(back.tensors[name].shape, t.shape);
    assert.deepEqual(bits(back.tensors[name].data), bits(t.data), name);
  }
  // a subarray view writes only its own values
  const view = Float32Array.of(9, 1, 2, 9).subarray(1, 3);
  const again = readSafetensors(writeSafetensors({ v: { shape: [2], data: view } }));
  assert.deepEqual(again.tensors.v.data, Float32Array.of(1, 2));
  assert.deepEqual(again.metadata, {});
});

Deno.test("writeSafetensors() refuses a shape that does not fit the data", () => {
  assert.throws(
    () => writeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
    (e: Error) => e.message === 'tensor "w" has shape [2, 2] (4 values) but 3 values',
  );
});

Deno.test("readSafetensors() explains corrupt files", () => {
  const entry = (begin: number, end: number, shape = [2]) => ({
    dtype: "F32",
    shape,
    data_offsets: [begin, end],
  });
  rejects(new Uint8Array(5), "file is 5 bytes, shorter than the 8-byte header length");
  const good = writeSafetensors({ x: { shape: [2], data: Float32Array.of(1, 2) } });
  const long = good.slice();
  new DataView(long.buffer).setBigUint64(0, 1000n, true);
  rejects(
    long,
    `header length 1000 exceeds the ${good.length - 8} bytes that follow it; ` +
      "the file is truncated or not a safetensors file",
  );
  new DataView(long.buffer).setBigUint64(0, 2n ** 60n, true);
  rejects(
    long,
    `header length ${2n ** 60n} exceeds the ${
      good.length - 8
    } bytes that follow it (and the 100000000-byte ` +
      "limit); the file is truncated or not a safetensors file",
  );
  rejects(
    good.subarray(0, good.length - 4),
    "file is truncated: the header places tensor data up to byte 8 but 4 bytes follow it",
  );
  const trailing = new Uint8Array(good.length + 4);
  trailing.set(good);
  rejects(trailing, "tensors cover 8 bytes of data but the file holds 12");
  rejects(
    craft({ x: entry(0, 16, [4]) }, new Uint8Array(8)),
    "file is truncated: the header places tensor data up to byte 16 but 8 bytes follow it",
  );
  rejects(
    craft({ x: entry(0, 8, [3]) }, new Uint8Array(8)),
    'tensor "x": shape [3] as F32 needs 12 bytes but data_offsets [0, 8] span 8',
  );
  rejects(
    craft({ x: entry(0, 8), y: entry(4, 12) }, new Uint8Array(12)),
    'tensor "y" starts at byte 4 of the data but the previous tensor ends at 8 ' +
      "(overlapping or non-contiguous data_offsets)",
  );
  rejects(
    craft({ x: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, new Uint8Array(16)),
    'tensor "x": dtype "I64" is not supported (F32, F16 or BF16)',
  );
  rejects(
    craft({ x: { dtype: "BF16", shape: [3], data_offsets: [0, 4] } }, new Uint8Array(4)),
    'tensor "x": shape [3] as BF16 needs 6 bytes but data_offsets [0, 4] span 4',
  );
  rejects(
    craft({ x: { dtype: "F32", shape: [1], data_offsets: [0] } }, new Uint8Array(4)),
    'tensor "x": data_offsets must be two non-negative integers, found [0]',
  );
  rejects(craft([1, 2], new Uint8Array(0)), "header must be a JSON object of tensor entries");
  rejects(
    craft({ __metadata__: { a: 1 } }, new Uint8Array(0)),
    '__metadata__ "a" must be a string, found 1',
  );
  const notJson = good.slice();
  notJson[8] = 0x5b; // "[" where "{" was
  assert.throws(() => readSafetensors(notJson), /^SafetensorsError: header is not valid JSON: /);
});

Deno.test("readSafetensors() widens F16 and BF16 to float32 exactly, subnormals, infinities and NaN included", () => {
  // F16 bits: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), 2^-14 (smallest normal), +inf, NaN, -0
  const half = Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x7e00, 0x8000);
  // BF16 bits: 1, -2.5, 3.3895314e38 (largest), -inf
  const bf = Uint16Array.of(0x3f80, 0xc020, 0x7f7f, 0xff80);
  const halfBytes = new Uint8Array(half.buffer);
  const bfBytes = new Uint8Array(bf.buffer);
  const data = new Uint8Array(halfBytes.length + bfBytes.length);
  data.set(halfBytes, 0);
  data.set(bfBytes, halfBytes.length);
  const file = craft({
    h: { dtype: "F16", shape: [2, 4], data_offsets: [0, 16] },
    b: { dtype: "BF16", shape: [4], data_offsets: [16, 24] },
  }, data);
  const { tensors, dtypes } = readSafetensors(file);
  assert.deepEqual(dtypes, { h: "F16", b: "BF16" });
  assert.deepEqual(tensors.h.shape, [2, 4]);
  const h = Array.from(tensors.h.data);
  assert.deepEqual(h.slice(0, 6), [1, -2, 65504, 2 ** -24, 2 ** -14, Infinity]);
  assert.ok(Number.isNaN(h[6]));
  assert.ok(Object.is(h[7], -0));
  assert.deepEqual(Array.from(tensors.b.data), [1, -2.5, Math.fround(3.3895313892515355e38), -Infinity]);
});

/**
 * Matmul operands read from textures (src/gpu/operand_textures.ts): the same bits as the storage-buffer
 * kernels, and float64's values (relative 1e-4, as tests/gpu_matmul_test.ts: f32 sums over K = 132), on
 * shapes whose operands end mid texture row and span several rows.
 */
import assert from "node:assert/strict";
import { input, type Node } from "../src/graph/node.ts";
import { linear, matmul, matmulAdd } from "../src/graph/ops/matmul.ts";
import { attention, attentionGrad } from "../src/graph/ops/attention.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { texturedSource, textureReads } from "../src/gpu/operand_textures.ts";
import { gpu } from "../src/gpu/device.ts";
import { randoms, relError, testDevice } from "./_harness.ts";
import { ParamStore } from "../src/compile/param_store.ts";
import { param } from "../src/graph/node.ts";

async function run(device: GPUDevice, outputs: Node[], feeds: Map<Node, Float32Array>, textures: boolean) {
  const program = await Program.compile(device, outputs, { poison: true, textures });
  for (const [n, v] of feeds) program.write(n, v);
  program.run();
  const out = await Promise.all(outputs.map((o) => program.read(o)));
  const bytes = program.textureBytes;
  program.destroy();
  return { out, bytes };
}

Deno.test("matmuls reading operands from textures equal the storage kernels bit for bit, and float64", async () => {
  const device = await testDevice();
  if (!device) return;
  // A [300, 132]: 158,400 bytes, 4 whole texture rows of 32 KiB and 27,328 bytes of a fifth
  const a = input("a", [300, 132]);
  const b = input("b", [132, 68]);
  const bt = input("bt", [68, 132]);
  const at = input("at", [132, 300]);
  const bias = input("bias", [68]);
  const x3 = input("x3", [3, 36, 132]); // a batch sharing one weight
  const w = input("w", [20, 132]);
  // odd sizes take the scalar kernel, whose operands are floats in r32float textures
  const odd = input("odd", [67, 131]);
  const oddB = input("oddB", [131, 9]);
  const outputs = [
    matmul(a, b),
    matmul(a, bt, { transB: true }),
    matmul(at, b, { transA: true }),
    matmulAdd(a, b, [bias]),
    linear(x3, w),
    matmul(odd, oddB),
  ];
  const feeds = new Map<Node, Float32Array>();
  [a, b, bt, at, bias, x3, w, odd, oddB].forEach((n, k) => feeds.set(n, randoms(n.size, 11 + k)));
  const plain = await run(device, outputs, feeds, false);
  const tex = await run(device, outputs, feeds, true);
  assert.equal(plain.bytes, 0);
  // A's rgba32float texture alone has 5 rows of 32 KiB
  assert.ok(tex.bytes >= 5 * 32768, `operand textures of ${tex.bytes} bytes`);
  const ref = evaluate(outputs, new Map([...feeds].map(([n, v]) => [n, Float64Array.from(v)])));
  outputs.forEach((o, k) => {
    assert.deepEqual(tex.out[k], plain.out[k], `output ${k}: textured and storage kernels differ`);
    const err = relError(tex.out[k], ref.get(o)!);
    assert.ok(err <= 1e-4, `output ${k}: relative error ${err} against float64`);
  });
});

Deno.test("the device acquired on lavapipe reads operands from textures", async () => {
  const device = await testDevice();
  if (!device) return;
  const g = await gpu();
  assert.equal(textureReads(device), /llvmpipe|lavapipe/i.test(g.adapter.description));
});

Deno.test("texturedSource() rewrites every read of the named arrays and refuses what it cannot rewrite", () => {
  const src = "@group(0) @binding(1) var<storage, read> a: array<vec4f>;\n" +
    "fn f(i: u32) -> vec4f { return a[i] + a[i + 1u]; }\nfn g() -> u32 { return data[0]; }";
  const out = texturedSource(src, ["a"]);
  assert.deepEqual(out.formats, ["rgba32float"]);
  assert.match(out.source, /var a: texture_2d<f32>;/);
  assert.match(out.source, /textureLoad\(a, vec2u\(i & 2047u, i >> 11u\), 0\)/);
  assert.match(out.source, /return a_at\(i\) \+ a_at\(i \+ 1u\);/);
  assert.match(out.source, /data\[0\]/);
  // an alias of f32: one float a texel of an r32float texture, 8,192 a row
  const scalar = texturedSource(
    "alias V = f32;\nvar<storage, read> q: array<V>;\nfn h() -> V { return q[3u]; }",
    ["q"],
  );
  assert.deepEqual(scalar.formats, ["r32float"]);
  assert.match(
    scalar.source,
    /fn q_at\(i: u32\) -> f32 \{ return textureLoad\(q, vec2u\(i & 8191u, i >> 13u\), 0\)\.x; \}/,
  );
  assert.throws(() => texturedSource(src, ["b"]), /lacks "var<storage, read> b: array<...>;"/);
  // packed 16-bit weights: their 32-bit words, two a texel of an rg32uint texture (4,096 a row)
  const words = texturedSource("var<storage, read> w: array<vec2u>;\nfn k() -> u32 { return w[5u].y; }", [
    "w",
  ]);
  assert.deepEqual(words.formats, ["rg32uint"]);
  assert.match(words.source, /var w: texture_2d<u32>;/);
  assert.match(words.source, /textureLoad\(w, vec2u\(i & 4095u, i >> 12u\), 0\)\.xy/);
  assert.match(words.source, /return w_at\(5u\)\.y;/);
  assert.deepEqual(texturedSource("var<storage, read> u: array<u32>;", ["u"]).formats, ["r32uint"]);
  assert.throws(
    () => texturedSource("var<storage, read> u: array<i32>;", ["u"]),
    /holds i32, not vec4f, f32, vec2u or u32/,
  );
  assert.throws(
    () => texturedSource(src.replace("a[i + 1u]", "a[b[i]]"), ["a"]),
    /indexes a in a form not rewritten/,
  );
  // a parameter or local named like the array would be rewritten with it: refused
  for (const other of ["fn m(x: vec4f, a: mat4x4f) -> f32 { return a[0][1]; }", "fn n() { let a = 1; }"]) {
    assert.throws(() => texturedSource(`${src}\n${other}`, ["a"]), /declares another "a" besides the array/);
  }
});

Deno.test("attention reading qkv and its gradient from textures gives the storage kernels' bits", async () => {
  const device = await testDevice();
  if (!device) return;
  // head lanes and token lanes, vec4 heads (dh 16, 36) and float heads (dh 5, 99)
  const cases: [number, number, number, number, boolean][] = [
    [3, 8, 32, 2, false],
    [2, 9, 15, 3, true],
    [2, 37, 8, 2, true],
    [1, 9, 72, 2, false],
    [2, 6, 99, 1, true],
  ];
  for (const [i, [B, T, d, heads, causal]] of cases.entries()) {
    const qkv = input("qkv", [B, T, 3 * d]);
    const g = input("g", [B, T, d]);
    const outputs = [attention(qkv, { heads, causal }), attentionGrad(qkv, g, { heads, causal })];
    const feeds = new Map<Node, Float32Array>([
      [qkv, randoms(qkv.size, 30 + i, -2, 2)],
      [g, randoms(g.size, 40 + i)],
    ]);
    const plain = await run(device, outputs, feeds, false);
    const tex = await run(device, outputs, feeds, true);
    assert.ok(
      tex.bytes > 0 && plain.bytes === 0,
      `case ${i}: textures ${tex.bytes} and ${plain.bytes} bytes`,
    );
    outputs.forEach((_, k) => assert.deepEqual(tex.out[k], plain.out[k], `case ${i} output ${k}`));
  }
});

Deno.test("matmuls over 16-bit weights read their words from textures with the storage kernels' bits", async () => {
  const device = await testDevice();
  if (!device) return;
  // vec4 shapes (rg32uint textures of word pairs) and odd ones (scalar kernel, r32uint), plain and
  // transposed weights; A [300, 132] spans several texture rows
  const cases: { a: number[]; w: number[]; transB: boolean }[] = [
    { a: [300, 132], w: [132, 68], transB: false },
    { a: [300, 132], w: [68, 132], transB: true },
    { a: [67, 131], w: [131, 9], transB: false },
    { a: [2, 5, 37], w: [41, 37], transB: true },
  ];
  for (const half of ["f16", "bf16"] as const) {
    for (const [i, c] of cases.entries()) {
      const at = `${half} a [${c.a}] w [${c.w}]${c.transB ? "^T" : ""}`;
      const a = input("a", c.a);
      const w = param(`w${i}`, c.w, false);
      const out = matmul(a, w, { transB: c.transB });
      const av = randoms(a.size, 50 + i);
      const wv = randoms(w.size, 60 + i);
      const read = async (textures: boolean) => {
        const store = new ParamStore(device, [{ name: w.name, shape: w.shape, trainable: false, half }]);
        try {
          store.upload(new Map([[w.name, wv]]));
          const program = await Program.compile(device, [out], {
            pinned: new Map([[w, store.slot(w.name)]]),
            poison: true,
            textures,
          });
          program.write(a, av);
          program.run();
          const got = await program.read(out);
          const bytes = program.textureBytes;
          program.destroy();
          return { got, bytes };
        } finally {
          store.destroy();
        }
      };
      const plain = await read(false);
      const tex = await read(true);
      assert.equal(plain.bytes, 0, at);
      // both operands textured: A's f32 texture and the weight's words
      const aRows = Math.ceil(a.size * 4 / 32768);
      const wRows = Math.ceil(Math.ceil(w.size * 2 / 16) * 16 / 32768);
      assert.equal(tex.bytes, (aRows + wRows) * 32768, `${at}: operand textures of ${tex.bytes} bytes`);
      assert.ok(plain.got.every(Number.isFinite), `${at}: storage kernel output not finite`);
      assert.deepEqual(tex.got, plain.got, `${at}: textured and storage kernels differ`);
    }
  }
});

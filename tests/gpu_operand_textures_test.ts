/**
 * Matmul operands read from textures (src/gpu/operand_textures.ts): the same bits as the storage-buffer
 * kernels, and float64's values (relative 1e-4, as tests/gpu_matmul_test.ts: f32 sums over K = 132), on
 * shapes whose operands end mid texture row and span several rows.
 */
import assert from "node:assert/strict";
import { input, type Node } from "../src/graph/node.ts";
import { linear, matmul, matmulAdd } from "../src/graph/ops/matmul.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { TEXTURE_WIDTH, texturedSource, textureReads } from "../src/gpu/operand_textures.ts";
import { gpu } from "../src/gpu/device.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

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
  const outputs = [
    matmul(a, b),
    matmul(a, bt, { transB: true }),
    matmul(at, b, { transA: true }),
    matmulAdd(a, b, [bias]),
    linear(x3, w),
  ];
  const feeds = new Map<Node, Float32Array>();
  [a, b, bt, at, bias, x3, w].forEach((n, k) => feeds.set(n, randoms(n.size, 11 + k)));
  const plain = await run(device, outputs, feeds, false);
  const tex = await run(device, outputs, feeds, true);
  assert.equal(plain.bytes, 0);
  assert.ok(tex.bytes >= 5 * TEXTURE_WIDTH * 16, `operand textures of ${tex.bytes} bytes`);
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

Deno.test("texturedSource() rewrites every read of the named arrays and refuses a kernel without them", () => {
  const src = "@group(0) @binding(1) var<storage, read> a: array<vec4f>;\n" +
    "fn f(i: u32) -> vec4f { return a[i] + a[i + 1u]; }\nfn g() -> u32 { return data[0]; }";
  const out = texturedSource(src, ["a"]);
  assert.match(out, /var a: texture_2d<f32>;/);
  assert.match(out, /return a_at\(i\) \+ a_at\(i \+ 1u\);/);
  assert.match(out, /data\[0\]/);
  assert.throws(() => texturedSource(src, ["b"]), /lacks "var<storage, read> b: array<vec4f>;"/);
  assert.throws(
    () => texturedSource(src.replace("a[i + 1u]", "a[b[i]]"), ["a"]),
    /indexes a in a form not rewritten/,
  );
});

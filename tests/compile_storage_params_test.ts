import assert from "node:assert/strict";
import { storageParams } from "../src/compile/program.ts";

Deno.test("storageParams() moves the one uniform params binding to read-only storage, else throws", () => {
  const body = "@group(0) @binding(1) var<storage, read> x: array<f32>;\n";
  const source = "struct Params { n: u32 }\n@group(0) @binding(0) var<uniform> p: Params;\n" + body;
  assert.equal(
    storageParams("k", source),
    "struct Params { n: u32 }\n@group(0) @binding(0) var<storage, read> p: Params;\n" + body,
  );
  const message = 'kernel k: expected exactly one uniform binding, declared as "var<uniform> p: Params;"';
  assert.throws(() => storageParams("k", body), { message });
  assert.throws(() => storageParams("k", source + "@group(0) @binding(2) var<uniform> q: Params;\n"), {
    message,
  });
});

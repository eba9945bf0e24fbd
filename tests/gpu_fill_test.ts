import assert from "node:assert/strict";
import { fill } from "../src/graph/ops/fill.ts";
import { gpuVsCpu, testDevice } from "./_harness.ts";

Deno.test("fill() writes every element, including past one workgroup", async () => {
  const device = await testDevice();
  if (!device) return;
  const errs = await gpuVsCpu(device, [fill([3, 257], 2.5), fill([1], -1)], new Map());
  for (const e of errs) assert.ok(e <= 1e-7, `relative error ${e}`);
});

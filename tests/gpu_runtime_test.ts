import assert from "node:assert/strict";
import { KernelError, pipeline } from "../src/gpu/kernels.ts";
import { bucket, BufferPool } from "../src/gpu/pool.ts";
import { testDevice } from "./_harness.ts";

Deno.test("pipeline() reports a WGSL error with the kernel name, line and source", async () => {
  const device = await testDevice();
  if (!device) return;
  const source = [
    "@group(0) @binding(0) var<storage, read_write> out: array<f32>;",
    "@compute @workgroup_size(1)",
    "fn main() {",
    "  out[0] = undefined_name;",
    "}",
  ].join("\n");
  const error = await pipeline(device, "broken", source).then(() => undefined, (e) => e);
  assert.ok(error instanceof KernelError, `expected a KernelError, found ${error}`);
  assert.match(error.message, /^kernel broken failed to compile:\n {2}line 4: /);
  assert.match(error.message, /out\[0\] = undefined_name;/);
});

Deno.test("BufferPool serves buffers by power-of-two bucket, reuses released ones and caps free lists", async () => {
  const device = await testDevice();
  if (!device) return;
  assert.deepEqual([1, 256, 257, 1000, 4096].map(bucket), [256, 256, 512, 1024, 4096]);
  const pool = new BufferPool(device, 2);
  const a = pool.acquire(300);
  assert.equal(a.size, 512);
  assert.equal(pool.liveBytes, 512);
  pool.release(a);
  assert.equal(pool.acquire(400), a, "a released buffer of the same bucket is reused");
  const more = [a, pool.acquire(500), pool.acquire(510)];
  for (const b of more) pool.release(b);
  assert.equal(pool.liveBytes, 0);
  // The cap is 2 free buffers a bucket: the third release destroyed its buffer, so only two come back.
  const again = [pool.acquire(512), pool.acquire(512), pool.acquire(512)];
  assert.equal(again.filter((b) => more.includes(b)).length, 2);
  for (const b of again) pool.release(b);
  pool.trim();
});

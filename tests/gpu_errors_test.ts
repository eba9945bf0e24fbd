import assert from "node:assert/strict";
import { limitRecord } from "../src/gpu/device.ts";
import { checkDevice, GpuError, scoped, watchDevice } from "../src/gpu/errors.ts";
import { read } from "../src/gpu/readback.ts";
import { testDevice } from "./_harness.ts";

/**
 * A device of its own, watched like the process-wide one: an error poisons a device for good, so these tests
 * must not share `gpu()`'s.
 */
async function ownDevice(): Promise<GPUDevice | null> {
  if (!(await testDevice())) return null;
  const adapter = (await navigator.gpu.requestAdapter())!;
  const device = await adapter.requestDevice({ requiredLimits: limitRecord(adapter.limits) });
  watchDevice(device);
  return device;
}

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A buffer holding 1, 2, 3, 4. */
function ones(device: GPUDevice): GPUBuffer {
  const b = device.createBuffer({ size: 16, usage: USAGE });
  device.queue.writeBuffer(b, 0, new Float32Array([1, 2, 3, 4]));
  return b;
}

Deno.test("read() returns the numbers while the device reported no error", async () => {
  const device = await ownDevice();
  if (!device) return;
  try {
    assert.deepEqual([...await read(device, ones(device))], [1, 2, 3, 4]);
    await checkDevice(device);
  } finally {
    device.destroy();
  }
});

Deno.test("read() after a validation error in a checked allocation throws, naming what was done", async () => {
  const device = await ownDevice();
  if (!device) return;
  try {
    const good = ones(device);
    const bytes = device.limits.maxBufferSize + 4;
    scoped(device, "allocating the test's buffer of 1 byte too many", () => {
      device.createBuffer({ size: bytes, usage: USAGE });
    });
    const got = await read(device, good).then((v) => `numbers ${[...v]}`, (e) => e);
    assert.ok(got instanceof GpuError, `expected a GpuError, found ${got}`);
    // the error is WebGPU's own (its wording is the implementation's); ours says what was being done
    assert.match(
      got.message,
      new RegExp(
        `^WebGPU validation error while allocating the test's buffer of 1 byte too many: .*${bytes}`,
      ),
    );
    // the device stays failed: every later read throws the first error
    await assert.rejects(() => read(device, good), (e) => e instanceof GpuError && e.message === got.message);
  } finally {
    device.destroy();
  }
});

Deno.test("read() after an invalid dispatch outside any scope throws instead of returning zeros", async () => {
  const device = await ownDevice();
  if (!device) return;
  try {
    const module = device.createShaderModule({
      code: "@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n" +
        "@compute @workgroup_size(1) fn main(@builtin(global_invocation_id) g: vec3u) { o[g.x % 4u] = 7.0; }",
    });
    const pipe = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
    const out = device.createBuffer({ size: 16, usage: USAGE });
    const group = device.createBindGroup({
      layout: pipe.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: out } }],
    });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    // one past the most workgroups an axis may have: the dispatch is invalid and does nothing
    pass.dispatchWorkgroups(device.limits.maxComputeWorkgroupsPerDimension + 1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    const got = await read(device, out).then((v) => `numbers ${[...v]}`, (e) => e);
    assert.ok(got instanceof GpuError, `expected a GpuError, found ${got}`);
    assert.match(got.message, /^WebGPU validation error outside a checked call: .*65536/);
  } finally {
    device.destroy();
  }
});

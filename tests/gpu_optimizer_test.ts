import assert from "node:assert/strict";
import { adamwCalls, adamwReference, writeOptimizerState } from "../src/compile/optimizer.ts";
import { Program } from "../src/compile/program.ts";
import { read } from "../src/compile/param_store.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

async function compare(
  clip: number | undefined,
  gradScale: number,
): Promise<{ theta: number; norm: number }> {
  const device = (await testDevice())!;
  const n = 1037;
  const make = (data: Float32Array<ArrayBuffer>) => {
    const b = device.createBuffer({ size: n * 4 + 12, usage: USAGE });
    device.queue.writeBuffer(b, 0, data);
    return b;
  };
  const theta0 = randoms(n, 1);
  const mask = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const [theta, grad, m, v, maskBuf] = [
    theta0,
    new Float32Array(n),
    new Float32Array(n),
    new Float32Array(n),
    mask,
  ]
    .map(make);
  const o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, clip };
  const { calls, state } = adamwCalls(device, { ...o, theta, grad, m, v, mask: maskBuf, n });
  const program = await Program.compile(device, [], { after: calls });
  const ref = { theta: Float64Array.from(theta0), m: new Float64Array(n), v: new Float64Array(n) };
  let norm = 0;
  let gpuNorm = 0;
  for (let step = 1; step <= 3; step++) {
    const g = randoms(n, 10 + step, -gradScale, gradScale);
    device.queue.writeBuffer(grad, 0, g);
    writeOptimizerState(device, state, { ...o, lr: 0.01 * step, step });
    program.run();
    norm = adamwReference(ref.theta, Float64Array.from(g), ref.m, ref.v, Float64Array.from(mask), {
      ...o,
      lr: 0.01 * step,
      step,
    });
    if (clip) gpuNorm = (await read(device, state))[2];
  }
  const got = (await read(device, theta)).subarray(0, n);
  program.destroy();
  // theta is a difference of O(1) terms, so elements near 0 carry O(1e-7) absolute f32 rounding: measure
  // the error relative to the tensor's scale (floor 1), as f32 storage of theta allows.
  return { theta: relError(got, ref.theta, 1), norm: clip ? Math.abs(gpuNorm - norm) / norm : 0 };
}

Deno.test("adamwCalls() matches float64 AdamW over 3 steps without clipping", async () => {
  if (!(await testDevice())) return;
  const { theta } = await compare(undefined, 1);
  assert.ok(theta <= 1e-6, `theta relative error ${theta}`);
});

Deno.test("adamwCalls() clips by the global gradient norm like float64 AdamW", async () => {
  if (!(await testDevice())) return;
  // Gradients in [-3, 3) over 1037 elements have norm ~55, far above the clip of 1: clipping is active.
  const { theta, norm } = await compare(1, 3);
  assert.ok(theta <= 1e-6, `theta relative error ${theta}`);
  assert.ok(norm <= 1e-4, `gradient norm relative error ${norm}`);
});

Deno.test("adamwCalls() flags an Adam moment that overflows while the weights stay finite", async () => {
  const device = await testDevice();
  if (!device) return;
  const n = 300;
  const make = (data: Float32Array<ArrayBuffer>) => {
    const b = device.createBuffer({ size: n * 4, usage: USAGE });
    device.queue.writeBuffer(b, 0, data);
    return b;
  };
  const g = randoms(n, 5);
  const [theta, grad, m, v, mask] = [
    randoms(n, 4),
    g,
    new Float32Array(n),
    new Float32Array(n),
    new Float32Array(n),
  ]
    .map(make);
  const o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
  const { calls, state } = adamwCalls(device, { ...o, theta, grad, m, v, mask, n });
  const program = await Program.compile(device, [], { after: calls });
  writeOptimizerState(device, state, { ...o, lr: 0.01, step: 1 });
  program.run();
  assert.equal((await read(device, state))[5], 0, "finite step");
  // 1e30 squared overflows v (inf); m / sqrt(v) is 0, so theta stays finite
  g[123] = 1e30;
  device.queue.writeBuffer(grad, 0, g);
  writeOptimizerState(device, state, { ...o, lr: 0.01, step: 2 });
  program.run();
  assert.equal((await read(device, state))[5], 1, "overflowing moment");
  assert.equal((await read(device, v))[123], Infinity);
  assert.ok((await read(device, theta)).every(Number.isFinite), "theta finite");
  program.destroy();
});

Deno.test("adamwCalls() clips gradients whose squares overflow f32 without skipping the step", async () => {
  if (!(await testDevice())) return;
  // |g| up to 3e19 and 1e30: g * g is infinite in f32, the norm (about 1e21 and 2e31) is not
  for (const scale of [3e19, 1e30]) {
    const { theta, norm } = await compare(1, scale);
    assert.ok(theta <= 1e-6, `${scale}: theta relative error ${theta}`);
    assert.ok(norm <= 1e-4, `${scale}: gradient norm relative error ${norm}`);
  }
});

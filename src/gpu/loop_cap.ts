/**
 * Loop caps. Mesa's llvmpipe (lavapipe) stops an invocation's loops once they have run 65,535 iterations in
 * all, counted over every loop the compiler did not unroll, and the kernel carries on with what it has: no
 * error, wrong numbers (attention at 1,000 positions of head width 128 came back 156x off). A device measures
 * its cap once, when acquired; a program refuses a call that says it may loop more (`KernelCall.loops`).
 */
import { pipeline } from "./kernels.ts";
import { read } from "./readback.ts";

/** Iterations the probe asks for; a device that runs them all has no cap that matters here. */
export const PROBE_ITERATIONS = 1 << 20;

const caps = new WeakMap<GPUDevice, number>();

/** The most loop iterations one invocation runs on `device`, or undefined when it was not found capped. */
export function loopCap(device: GPUDevice): number | undefined {
  return caps.get(device);
}

/** Records `device`'s cap (undefined: none). */
export function setLoopCap(device: GPUDevice, cap: number | undefined): void {
  if (cap === undefined) caps.delete(device);
  else caps.set(device, cap);
}

const PROBE = `
@group(0) @binding(0) var<uniform> n: vec4u;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var c = 0u;
  for (var j = 0u; j < n.x; j++) { c += 1u; }
  out[0] = f32(c);
}`;

/** Runs one invocation looping PROBE_ITERATIONS times; the count it reached when that is fewer. */
export async function measureLoopCap(device: GPUDevice): Promise<number | undefined> {
  const pipe = await pipeline(device, "loop_cap_probe", PROBE, "main");
  const uniform = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const out = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  try {
    device.queue.writeBuffer(uniform, 0, new Uint32Array([PROBE_ITERATIONS, 0, 0, 0]));
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipe.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: uniform } }, { binding: 1, resource: { buffer: out } }],
      }),
    );
    pass.dispatchWorkgroups(1);
    pass.end();
    device.queue.submit([encoder.finish()]);
    const count = (await read(device, out, 0, 4))[0];
    return count < PROBE_ITERATIONS ? count : undefined;
  } finally {
    uniform.destroy();
    out.destroy();
  }
}

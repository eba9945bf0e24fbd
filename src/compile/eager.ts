/**
 * Op-by-op execution: every op gets a fresh buffer and its own submit. Slow, with no planning at all; it is
 * the baseline the compiled program is checked against.
 */
import { type Node, topo } from "../graph/node.ts";
import { opDef } from "../graph/op.ts";
import { pipeline } from "../gpu/kernels.ts";
import { BufferPool } from "../gpu/pool.ts";
import { read } from "./param_store.ts";

/**
 * Runs `outputs` op by op from leaf values given by node or name; returns every output's value. Buffers come
 * from `pool` and go back to it, so repeated runs (one per training step) reuse them.
 */
export async function runEager(
  device: GPUDevice,
  outputs: readonly Node[],
  feeds: ReadonlyMap<Node | string, Float32Array>,
  shared?: BufferPool,
): Promise<Map<Node, Float32Array>> {
  const pool = shared ?? new BufferPool(device);
  const buffers = new Map<Node, GPUBuffer>();
  const made: GPUBuffer[] = [];
  const uniforms: GPUBuffer[] = [];
  const fresh = (floats: number) => {
    const b = pool.acquire(floats * 4);
    made.push(b);
    return b;
  };
  for (const n of topo(outputs)) {
    if (n.role !== "op") {
      const data = n.role === "const" ? n.attrs.data as Float32Array : feeds.get(n) ?? feeds.get(n.name);
      if (!data) throw new Error(`no value fed for ${n.role} ${n.name}`);
      const b = fresh(n.size);
      device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
      buffers.set(n, b);
      continue;
    }
    const def = opDef(n.op);
    if (def.view) {
      buffers.set(n, buffers.get(n.inputs[0])!);
      continue;
    }
    const out = fresh(n.size);
    buffers.set(n, out);
    const low = def.gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape);
    const scratch = (low.scratch ?? []).map(fresh);
    const encoder = device.createCommandEncoder();
    for (const call of low.calls) {
      const pipe = await pipeline(device, call.kernel, call.source, call.entry);
      const uniform = device.createBuffer({
        size: Math.max(16, call.params.byteLength),
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      uniforms.push(uniform);
      device.queue.writeBuffer(uniform, 0, call.params);
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniform } }];
      call.bind.forEach((ref, k) => {
        const buffer = "in" in ref
          ? buffers.get(n.inputs[ref.in])!
          : "out" in ref
          ? out
          : "scratch" in ref
          ? scratch[ref.scratch]
          : ref.buffer;
        // a part of a value (one chunk of a weight's rows), else the whole buffer
        const part = ref.offset === undefined && ref.size === undefined
          ? { buffer }
          : { buffer, offset: ref.offset ?? 0, ...(ref.size === undefined ? {} : { size: ref.size }) };
        entries.push({ binding: k + 1, resource: part });
      });
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipe);
      pass.setBindGroup(0, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries }));
      pass.dispatchWorkgroups(...call.workgroups);
      pass.end();
    }
    device.queue.submit([encoder.finish()]);
  }
  const values = new Map<Node, Float32Array>();
  for (const o of outputs) values.set(o, (await read(device, buffers.get(o)!)).subarray(0, o.size));
  for (const b of made) pool.release(b);
  for (const u of uniforms) u.destroy();
  if (!shared) pool.trim();
  return values;
}

/**
 * Times the matmul kernel variants (register block gm x gn per lane, lanes along N) on this adapter, next to
 * the variant the cost model in src/graph/ops/_matmul_plan.ts picks, and optionally TF.js WebGPU.
 * Each timing queues dispatches in one submit and waits for `onSubmittedWorkDone`; the time per dispatch is
 * the difference between a long submit (>= 0.25 s more) and a one-dispatch submit, so the fixed submit/wait
 * latency cancels; the best of `rounds` tries is kept (the machine is shared).
 *
 * Run: XDG_RUNTIME_DIR=/tmp deno run -A bench/matmul_tune.ts [--all | --picked] [--tfjs] [--rounds 3]
 *        [--json] [--shape MxKxN[:tA][:tB][:bBATCH]] ...
 * By default the model's pick and its neighbours are timed; --all times every variant, --picked only the
 * pick. Shapes default to the brief's squares and the workload's skinny products.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { gpu } from "../src/gpu/device.ts";
import { pipeline } from "../src/gpu/kernels.ts";
import {
  chooseBlock,
  estimate,
  type MatmulBlock,
  matmulCall,
  type MatmulDims,
} from "../src/graph/ops/_matmul_plan.ts";

/** One timed variant. */
export interface TuneResult {
  shape: string;
  block: string;
  kernel: string;
  ms: number;
  gflops: number;
  /** Process CPU time per dispatch (all adapter threads): steadier than wall time on a busy machine. */
  cpuMs: number;
  modelMs: number;
  picked: boolean;
}

/** M x K @ K x N, the brief's squares and the workload's skinny shapes (qkv, LoRA A, fc2/dW-like, dW). */
const SHAPES = [
  "256x256x256",
  "512x512x512",
  "1024x1024x1024",
  "1024x64x192",
  "1024x64x8",
  "1024x192x64",
  "64x1024x64",
];

function parseShape(s: string): MatmulDims {
  const [size, ...flags] = s.split(":");
  const [M, K, N] = size.split("x").map(Number);
  const batch = Number(flags.find((f) => f.startsWith("b"))?.slice(1) ?? 1);
  const transA = flags.includes("tA"), transB = flags.includes("tB");
  return { M, N, K, batch, strideA: M * K, strideB: K * N, transA, transB };
}

const key = (b: MatmulBlock) => `${4 * b.gm}x${4 * b.gn} lanesX ${b.lanesX}`;

function candidates(d: MatmulDims, all: boolean, only: boolean): MatmulBlock[] {
  const picked = chooseBlock(d);
  if (only) return [picked];
  const out: MatmulBlock[] = [];
  for (const gm of [1, 2, 4] as const) {
    for (const gn of [1, 2, 4] as const) {
      for (const lanesX of [1, 2, 4, 8]) {
        const b = { gm, gn, lanesX, wg: 8 };
        const near = Math.abs(gm - picked.gm) + Math.abs(gn - picked.gn) <= 2 && lanesX === picked.lanesX;
        if (all || near || key(b) === key(picked)) out.push(b);
      }
    }
  }
  return out;
}

async function timeCall(
  device: GPUDevice,
  d: MatmulDims,
  block: MatmulBlock,
  rounds: number,
): Promise<{ ms: number; cpuMs: number }> {
  const call = matmulCall(d, block);
  const pipe = await pipeline(device, call.kernel, call.source, call.entry);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const sizes = [d.M * d.K * d.batch, d.K * d.N * d.batch, d.M * d.N * d.batch];
  const buffers = sizes.map((n) => device.createBuffer({ size: Math.max(16, n * 4), usage }));
  buffers.slice(0, 2).forEach((b, i) => {
    const data = Float32Array.from({ length: sizes[i] }, (_, j) => ((j * 7919) % 2001) / 1000 - 1);
    device.queue.writeBuffer(b, 0, data);
  });
  const uniform = device.createBuffer({
    size: call.params.byteLength,
    usage: GPUBufferUsage.UNIFORM | usage,
  });
  device.queue.writeBuffer(uniform, 0, call.params);
  const entries = [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } }));
  const group = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
  const submit = async (reps: number) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(...call.workgroups);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    const c = process.cpuUsage(c0);
    return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
  };
  await submit(1); // JIT compile happens on first use
  // Grow the long submit until it outlasts the short one by 0.25 s: the wait's latency jitters by ~10 ms.
  let extra = 8;
  while (extra < 4096 && (await submit(1 + extra)).ms - (await submit(1)).ms < 250) extra *= 2;
  let ms = Infinity, cpuMs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const short = await submit(1);
    const long = await submit(1 + extra);
    ms = Math.min(ms, (long.ms - short.ms) / extra);
    cpuMs = Math.min(cpuMs, (long.cpuMs - short.cpuMs) / extra);
  }
  for (const b of [uniform, ...buffers]) b.destroy();
  return { ms, cpuMs };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      all: { type: "boolean", default: false },
      picked: { type: "boolean", default: false },
      tfjs: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      rounds: { type: "string", default: "3" },
      shape: { type: "string", multiple: true },
    },
  });
  const { device, adapter } = await gpu();
  const shapes = values.shape?.length ? values.shape : SHAPES;
  const results: TuneResult[] = [];
  console.log(
    `adapter: ${adapter.description}; load average ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`,
  );
  for (const s of shapes) {
    const d = parseShape(s);
    const flop = 2 * d.M * d.N * d.K * d.batch;
    const picked = key(chooseBlock(d));
    for (const block of candidates(d, values.all!, values.picked!)) {
      const { ms, cpuMs } = await timeCall(device, d, block, Number(values.rounds));
      const r: TuneResult = {
        shape: s,
        block: key(block),
        kernel: matmulCall(d, block).kernel,
        ms,
        cpuMs,
        gflops: flop / (ms * 1e6),
        modelMs: estimate(d, block) / 1e6,
        picked: key(block) === picked,
      };
      results.push(r);
      if (!values.json) {
        console.log(
          `${s.padEnd(18)} ${r.block.padEnd(18)} ${r.kernel.padEnd(14)} ${ms.toFixed(3).padStart(9)} ms ` +
            `${r.gflops.toFixed(2).padStart(7)} GFLOPS  cpu ${cpuMs.toFixed(3).padStart(9)} ms  model ${
              r.modelMs.toFixed(3)
            } ms${r.picked ? "  <- picked" : ""}`,
        );
      }
    }
  }
  if (values.tfjs) {
    const { tfjsMatmulGflops } = await import("./peers/tfjs_step.ts");
    const plain = shapes.map(parseShape).filter((d) => d.batch === 1 && !d.transA && !d.transB);
    const tf = await tfjsMatmulGflops("webgpu", plain.map((d) => ({ m: d.M, k: d.K, n: d.N })));
    for (const r of tf) {
      console.log(
        `tfjs-webgpu ${r.m}x${r.k}x${r.n}: ${r.msMedian.toFixed(3)} ms ${r.gflops.toFixed(2)} GFLOPS`,
      );
    }
  }
  if (values.json) console.log(JSON.stringify(results, null, 1));
}

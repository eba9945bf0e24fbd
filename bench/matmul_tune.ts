/**
 * Times the matmul kernel variants (register block gm x gn per lane, lanes along N) on this adapter, next to
 * the variant the cost model in src/graph/ops/_matmul_plan.ts picks, and optionally TF.js WebGPU.
 * Each timing queues `reps` dispatches in one submit and waits for `onSubmittedWorkDone`; the time per
 * dispatch is the difference between a long and a short submit (so the fixed submit/wait latency cancels),
 * the best of `rounds` tries (the machine is shared).
 *
 * Run: XDG_RUNTIME_DIR=/tmp deno run -A bench/matmul_tune.ts [--all] [--tfjs] [--rounds 3] [--json]
 *        [--shape 512x512x512[:tA][:tB][:bBATCH]] ...
 * Without --all only the model's pick and a few neighbours are timed.
 */
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
  modelMs: number;
  picked: boolean;
}

/** M x K @ K x N, the brief's squares and the workload's skinny shapes (qkv, LoRA A, fc2/dW-like, dW). */
const SHAPES = ["256x256x256", "512x512x512", "1024x1024x1024", "1024x64x192", "1024x64x8", "1024x192x64", "64x1024x64"];

function parseShape(s: string): MatmulDims {
  const [size, ...flags] = s.split(":");
  const [M, K, N] = size.split("x").map(Number);
  const batch = Number(flags.find((f) => f.startsWith("b"))?.slice(1) ?? 1);
  const transA = flags.includes("tA"), transB = flags.includes("tB");
  return { M, N, K, batch, strideA: M * K, strideB: K * N, transA, transB };
}

const key = (b: MatmulBlock) => `${4 * b.gm}x${4 * b.gn} lanesX ${b.lanesX}`;

function candidates(d: MatmulDims, all: boolean): MatmulBlock[] {
  const picked = chooseBlock(d);
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

async function timeCall(device: GPUDevice, d: MatmulDims, block: MatmulBlock, rounds: number): Promise<number> {
  const call = matmulCall(d, block);
  const pipe = await pipeline(device, call.kernel, call.source, call.entry);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const sizes = [d.M * d.K * d.batch, d.K * d.N * d.batch, d.M * d.N * d.batch];
  const buffers = sizes.map((n) => device.createBuffer({ size: Math.max(16, n * 4), usage }));
  buffers.slice(0, 2).forEach((b, i) => {
    const data = Float32Array.from({ length: sizes[i] }, (_, j) => ((j * 7919) % 2001) / 1000 - 1);
    device.queue.writeBuffer(b, 0, data);
  });
  const uniform = device.createBuffer({ size: call.params.byteLength, usage: GPUBufferUsage.UNIFORM | usage });
  device.queue.writeBuffer(uniform, 0, call.params);
  const entries = [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } }));
  const group = device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries });
  const submit = async (reps: number) => {
    const t0 = performance.now();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipe);
    pass.setBindGroup(0, group);
    for (let i = 0; i < reps; i++) pass.dispatchWorkgroups(...call.workgroups);
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  const once = await submit(1); // JIT compile happens on first use
  // About 0.3 s per long submit, at least 4 dispatches more than the short one.
  const extra = Math.max(4, Math.min(200, Math.round(300 / Math.max(0.05, once))));
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const short = await submit(1);
    const long = await submit(1 + extra);
    best = Math.min(best, Math.max(1e-4, (long - short) / extra));
  }
  for (const b of [uniform, ...buffers]) b.destroy();
  return best;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      all: { type: "boolean", default: false },
      tfjs: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      rounds: { type: "string", default: "3" },
      shape: { type: "string", multiple: true },
    },
  });
  const { device, adapter } = await gpu();
  const shapes = values.shape?.length ? values.shape : SHAPES;
  const results: TuneResult[] = [];
  console.log(`adapter: ${adapter.description}; load average ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}`);
  for (const s of shapes) {
    const d = parseShape(s);
    const flop = 2 * d.M * d.N * d.K * d.batch;
    const picked = key(chooseBlock(d));
    for (const block of candidates(d, values.all!)) {
      const ms = await timeCall(device, d, block, Number(values.rounds));
      const r: TuneResult = {
        shape: s,
        block: key(block),
        kernel: matmulCall(d, block).kernel,
        ms,
        gflops: flop / (ms * 1e6),
        modelMs: estimate(d, block) / 1e6,
        picked: key(block) === picked,
      };
      results.push(r);
      if (!values.json) {
        console.log(
          `${s.padEnd(18)} ${r.block.padEnd(18)} ${r.kernel.padEnd(14)} ${ms.toFixed(3).padStart(9)} ms ` +
            `${r.gflops.toFixed(2).padStart(7)} GFLOPS  model ${r.modelMs.toFixed(3)} ms${r.picked ? "  <- picked" : ""}`,
        );
      }
    }
  }
  if (values.tfjs) {
    const { tfjsMatmulGflops } = await import("./peers/tfjs_step.ts");
    const plain = shapes.map(parseShape).filter((d) => d.batch === 1 && !d.transA && !d.transB);
    const tf = await tfjsMatmulGflops("webgpu", plain.map((d) => ({ m: d.M, k: d.K, n: d.N })));
    for (const r of tf) console.log(`tfjs-webgpu ${r.m}x${r.k}x${r.n}: ${r.msMedian.toFixed(3)} ms ${r.gflops.toFixed(2)} GFLOPS`);
  }
  if (values.json) console.log(JSON.stringify(results, null, 1));
}

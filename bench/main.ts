/**
 * `deno task bench [--json] [--steps N] [--no-scaling] [--no-peers] [--no-packed] [--packed-k 1,2,4,8]
 * [--no-f16] [--f16-rounds N] [--f16-dim D] [--no-lm] [--lm-warmup N] [--lm-steps N]
 * [--no-lm-loss] [--lm-loss-rounds N]`: mixtune against its
 * peers in one run, on the same model, batch and initial values: TF.js 4.22 (WebGPU on the same adapter, and
 * CPU), and PyTorch on the CPU when the system Python has torch (with the BLAS it resolved named; no ratio is
 * printed against the reference BLAS). The ViT-tiny step, the real-shape GPT-2 workloads of bench/gpt2.ts,
 * and matmul throughput, the models' own shapes included. Prints medians after warm-up and the ratios.
 */
import { parseArgs } from "node:util";
import { adapterLine, gpu } from "../src/gpu/device.ts";
import { type FrozenComparison, frozenComparison } from "./frozen_f16.ts";
import { formatLmLoss, type LmLossComparison, lmLossComparison } from "./lm_loss.ts";
import { kib, load, loadNote, versus } from "./_format.ts";
import { GPT2_30M, GPT2_SMALL, LM_MATMUL_SHAPES } from "./gpt2.ts";
import { lmBench, type LmBenchResult } from "./lm_bench.ts";
import { mixtuneMatmulGflops, mixtuneStep, shapeLabel } from "./mixtune.ts";
import { type PackedResult, packedThroughput } from "./packed.ts";
import { peerAgreement } from "./peers/run_peers.ts";
import {
  MATMUL_SHAPES,
  type MatmulResult,
  TFJS_VERSION,
  tfjsMatmulGflops,
  tfjsPeer,
} from "./peers/tfjs_step.ts";
import {
  blasLine,
  type TorchBlas,
  torchMatmulGflops,
  torchPeer,
  type TorchPeerResult,
} from "./peers/torch.ts";
import { type PeerStepResult, WORKLOAD } from "./peers/workload.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    json: { type: "boolean", default: false },
    steps: { type: "string", default: "10" },
    // 10: with 3, the JS engine had not settled and mixtune's median read 94-103 ms against 71 at 10 (bench/NOTES.md)
    warmup: { type: "string", default: "10" },
    "no-scaling": { type: "boolean", default: false },
    "no-peers": { type: "boolean", default: false },
    "no-packed": { type: "boolean", default: false },
    /** Skips the step with frozen weights in f16 beside f32. */
    "no-f16": { type: "boolean", default: false },
    "f16-rounds": { type: "string", default: "6" },
    /** Skips the LM step with its loss fused beside whole logits. */
    "no-lm-loss": { type: "boolean", default: false },
    "lm-loss-rounds": { type: "string", default: "4" },
    /** Width of the workload for the f16 comparison (embedDim follows it), e.g. 256: weights 16x larger. */
    "f16-dim": { type: "string", default: String(WORKLOAD.dim) },
    "packed-k": { type: "string", default: "1,2,4,8" },
    "packed-batch": { type: "string", default: String(WORKLOAD.batch) },
    /** Ranks of one extra pack (padded to the largest), e.g. 2,4,8,16: what padding costs. */
    "packed-ranks": { type: "string", default: "" },
    /** Skips the real-shape GPT-2 workloads. */
    "no-lm": { type: "boolean", default: false },
    // a GPT-2 step takes seconds here: one warm-up (pipelines, first-use compilation) and a median of 3
    "lm-warmup": { type: "string", default: "1" },
    "lm-steps": { type: "string", default: "3" },
  },
});
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const log = (s: string) => values.json || console.log(s);
const { adapter } = await gpu();
log(`adapter: ${adapterLine(adapter)}`);
log(
  `workload: LoRA ViT-tiny step (d=${WORKLOAD.dim}, ${WORKLOAD.depth} blocks, 16 tokens, r=${WORKLOAD.rank} on qkv, batch ${WORKLOAD.batch})\n`,
);

const stepLoad0 = Deno.loadavg()[0];
const ours = await mixtuneStep({ warmup, steps });
const peers: PeerStepResult[] = [];
const skipped: string[] = [];
if (!values["no-peers"]) {
  const progress = (s: string) => values.json || console.error(s);
  progress("running the TF.js WebGPU peer ...");
  peers.push(await tfjsPeer("webgpu", { warmup, steps }));
  progress("running the TF.js CPU peer ...");
  peers.push(await tfjsPeer("cpu", { warmup: 1, steps: Math.max(3, Math.round(steps / 3)) }));
  progress("running the PyTorch CPU peer ...");
  const torch = await torchPeer({ warmup, steps });
  if ("skipped" in torch) skipped.push(`torch-cpu skipped: ${torch.skipped}`);
  else peers.push(torch);
}
const torchRun = peers.find((p) => p.backend === "torch-cpu") as TorchPeerResult | undefined;
const blas: TorchBlas | undefined = torchRun?.blas;
const ms = (x: number) => x.toFixed(1).padStart(9);
log(
  "training step        median ms   mixtune is                  params total/trainable   loss first -> last",
);
for (const p of [ours, ...peers]) {
  const ratio = p === ours
    ? ""
    : versus(ours.stepMsMedian, p.stepMsMedian, p === torchRun ? blas : undefined);
  log(
    `${p.backend.padEnd(20)} ${ms(p.stepMsMedian)}   ${ratio.padEnd(27)} ${
      `${p.params.total}/${p.params.trainable}`.padEnd(22)
    }   ` +
      `${p.losses[0].toFixed(4)} -> ${p.losses.at(-1)!.toFixed(4)}`,
  );
}
for (const s of skipped) log(s);
const stepLoad = [stepLoad0, load()];
log(`${loadNote(stepLoad)}`);
if (torchRun) {
  log(`PyTorch ${torchRun.torch} (${torchRun.python}) on ${blasLine(torchRun.blas)}`);
  if (torchRun.blas.reference) {
    log(
      "  the reference BLAS is not what PyTorch users run: no ratio is printed against it " +
        "(.ci/setup installs and selects OpenBLAS)",
    );
  }
}
log(
  `mixtune without a readback each step: ${
    ours.pipelinedMs.toFixed(1)
  } ms a step; ${ours.kernels} dispatches a step`,
);
const agreement = peers.length
  ? peerAgreement([ours, ...peers.filter((p) => p.losses.length === ours.losses.length)])
  : undefined;
if (agreement) {
  log(
    `agreement with peers: params ${agreement.paramsMatch ? "match" : "DIFFER"}, max loss rel diff ${
      agreement.maxLossRelDiff.toExponential(2)
    }`,
  );
}

const m = ours.memory;
const trainableFloats = ours.params.trainable;
const exactState = trainableFloats * 4 * 4;
log(
  `\nmemory (from the buffer plan): frozen ${kib(m.frozen)} + trainable state ${kib(m.trainableState)} ` +
    `(weights, gradients, Adam m and v: ${(m.trainableState / exactState).toFixed(3)}x their exact ${
      kib(exactState)
    }) ` +
    `+ activations ${kib(m.activations)} = ${kib(m.total)}`,
);

let frozen: FrozenComparison | undefined;
if (!values["no-f16"]) {
  const rounds = Number(values["f16-rounds"]);
  const dim = Number(values["f16-dim"]);
  const workload = dim === WORKLOAD.dim ? WORKLOAD : { ...WORKLOAD, dim, embedDim: dim };
  frozen = await frozenComparison({ rounds, steps: 5, warmup, workload });
  log(
    `\nfrozen weights f32 vs f16 (frozenDtype), d=${dim}: both steps in this process, ${rounds} alternating ` +
      "rounds of 5 steps each, every step read back",
  );
  log("           step ms median   CPU ms median   planned memory   frozen weights");
  for (const side of [frozen.f32, frozen.f16]) {
    const m = side.memory;
    log(
      `  ${side.frozenDtype}     ${ms(side.stepMsMedian)}   ${ms(side.cpuMsMedian).padStart(13)}   ${
        kib(side.memoryBytes).padStart(14)
      }   ${kib(m.frozen)}${m.frozenF16 ? ` (f16 ${kib(m.frozenF16)})` : ""}`,
    );
  }
  const [l0, l1] = frozen.load;
  log(
    `  f16/f32 ${(frozen.speedRatio.toFixed(3) + "x").padStart(9)}   ${
      (frozen.cpuRatio.toFixed(3) + "x").padStart(13)
    }   ${(frozen.memoryRatio.toFixed(3) + "x").padStart(14)}   load ${l0.toFixed(2)} -> ${l1.toFixed(2)}${
      Math.max(l0, l1) > 1.5 ? " (loaded)" : ""
    }`,
  );
  log(
    `  losses first -> last: f32 ${frozen.f32.losses[0].toFixed(4)} -> ${
      frozen.f32.losses.at(-1)!.toFixed(4)
    }, ` +
      `f16 ${frozen.f16.losses[0].toFixed(4)} -> ${frozen.f16.losses.at(-1)!.toFixed(4)}`,
  );
}

let lmLoss: LmLossComparison | undefined;
if (!values["no-lm-loss"]) {
  lmLoss = await lmLossComparison({ rounds: Number(values["lm-loss-rounds"]), warmup: 2 });
  log(`\n${formatLmLoss(lmLoss)}`);
}

let lm: LmBenchResult[] = [];
if (!values["no-lm"]) {
  lm = await lmBench([GPT2_30M, GPT2_SMALL], {
    warmup: Number(values["lm-warmup"]),
    steps: Number(values["lm-steps"]),
    peers: !values["no-peers"],
    log,
    progress: (s) => values.json || console.error(s),
  });
}

const matmulLoad = [load()];
const matmulShapes = [...MATMUL_SHAPES, ...(values["no-lm"] ? [] : LM_MATMUL_SHAPES)];
const ourMatmul = await mixtuneMatmulGflops(matmulShapes);
// TF.js runs the original shapes only: at its 2-5 GFLOPS the 10-20 GFLOP vocabulary products take minutes
const tfMatmul: MatmulResult[] = values["no-peers"] ? [] : await tfjsMatmulGflops("webgpu");
const torchMatmul = values["no-peers"] ? undefined : await torchMatmulGflops(matmulShapes);
const torchMm = torchMatmul && !("skipped" in torchMatmul) ? torchMatmul : undefined;
matmulLoad.push(load());
log(
  "\nmatmul (fp32), GFLOPS          mixtune   TF.js WebGPU   PyTorch CPU   mixtune vs TF.js   mixtune vs PyTorch",
);
ourMatmul.forEach((r, i) => {
  const t = tfMatmul[i];
  const p = torchMm?.results[i];
  const what = i >= MATMUL_SHAPES.length ? `  ${LM_MATMUL_SHAPES[i - MATMUL_SHAPES.length].what}` : "";
  const f = (x?: number) => (x === undefined ? "-" : x.toFixed(2));
  if ("doesNotFit" in r) {
    log(
      `${shapeLabel(r).padEnd(28)} ${"-".padStart(9)}   ${"-".padStart(12)}   ${
        f(p?.gflops).padStart(11)
      }   ` +
        `mixtune: does not fit (${r.doesNotFit})${what}`,
    );
    return;
  }
  log(
    `${shapeLabel(r).padEnd(28)} ${f(r.gflops).padStart(9)}   ${f(t?.gflops).padStart(12)}   ` +
      `${f(p?.gflops).padStart(11)}   ${(t ? versus(1 / r.gflops, 1 / t.gflops) : "").padEnd(16)}   ` +
      `${(p ? versus(1 / r.gflops, 1 / p.gflops, torchMm!.blas) : "").padEnd(18)}${what}`,
  );
});
if (torchMatmul && "skipped" in torchMatmul) log(`torch-cpu matmul skipped: ${torchMatmul.skipped}`);
log(`${loadNote(matmulLoad)}; PyTorch matmul on ${torchMm ? blasLine(torchMm.blas) : "-"}`);

const packed: PackedResult[] = [];
if (!values["no-packed"]) {
  const batch = Number(values["packed-batch"]);
  log(
    `\npacked adapters: K variants (own LoRA, head, batch of ${batch}, lr) in one step vs K separate steps, ` +
      "each step read back; median of 5 after 2 warm-up; CPU = process CPU time",
  );
  log(
    "   K   packed ms (CPU)     samples/s   separate ms (CPU)   samples/s   speedup   " +
      "no read back: packed / separate ms, speedup   memory packed / separate   load",
  );
  const mixed = values["packed-ranks"] ? values["packed-ranks"].split(",").map(Number) : [];
  const runs = values["packed-k"].split(",").map((k) => ({
    k: Number(k),
    ranks: undefined as number[] | undefined,
  }));
  if (mixed.length) runs.push({ k: mixed.length, ranks: mixed });
  for (const { k, ranks } of runs) {
    if (ranks) {
      log(
        `  ranks ${ranks.join(", ")} (padded to ${Math.max(...ranks)}; separate steps use their own rank):`,
      );
    }
    const w = { ...WORKLOAD, batch };
    const [r] = await packedThroughput([k], { warmup: 2, steps: 5, w, ranks: ranks && (() => ranks) });
    packed.push(r);
    const pair = (wall: number, cpu: number) => `${wall.toFixed(1)} (${cpu.toFixed(0)})`.padStart(17);
    log(
      `${String(k).padStart(4)} ${pair(r.stepMsMedian, r.cpuMsMedian)}   ${
        r.samplesPerSecond.toFixed(0).padStart(9)
      }   ` +
        `${pair(r.separateStepMsMedian, r.separateCpuMsMedian)}   ${
          r.separateSamplesPerSecond.toFixed(0).padStart(9)
        }   ` +
        `${(r.speedup.toFixed(2) + "x").padStart(7)}   ` +
        `${r.pipelinedMs.toFixed(1)} / ${r.separatePipelinedMs.toFixed(1)}, ${r.pipelinedSpeedup.toFixed(2)}x`
          .padEnd(42) +
        `${kib(r.memoryBytes)} / ${kib(r.separateMemoryBytes)}`.padEnd(26) +
        `   ${r.load.map((x) => x.toFixed(2)).join(" -> ")}${Math.max(...r.load) > 1.5 ? " (loaded)" : ""}`,
    );
  }
}

const scaling: { batch: number; dim: number; ms: number }[] = [];
if (!values["no-scaling"]) {
  log("\nscaling of mixtune's step (median ms, 1 warm-up + 3 steps each)");
  for (const batch of [16, 64, 256]) {
    const r = await mixtuneStep({ warmup: 1, steps: 3, workload: { ...WORKLOAD, batch } });
    scaling.push({ batch, dim: WORKLOAD.dim, ms: r.stepMsMedian });
    log(`  batch ${String(batch).padStart(3)}, d=${WORKLOAD.dim}: ${ms(r.stepMsMedian)} ms`);
  }
  for (const dim of [128, 256]) {
    const r = await mixtuneStep({ warmup: 1, steps: 3, workload: { ...WORKLOAD, dim, embedDim: dim } });
    scaling.push({ batch: WORKLOAD.batch, dim, ms: r.stepMsMedian });
    log(`  batch ${WORKLOAD.batch}, d=${String(dim).padStart(3)}: ${ms(r.stepMsMedian)} ms`);
  }
}
if (values.json) {
  console.log(JSON.stringify(
    {
      adapter,
      versions: { deno: Deno.version.deno, tfjs: TFJS_VERSION, torch: torchRun?.torch ?? torchMm?.torch },
      blas: blas ?? torchMm?.blas,
      workload: WORKLOAD,
      step: [{ ...ours, memoryBytes: ours.memory.total }, ...peers, ...(frozen ? [frozen.f16] : [])],
      skipped,
      memory: m,
      lm,
      matmul: { shapes: matmulShapes, mixtune: ourMatmul, tfjsWebgpu: tfMatmul, torch: torchMm?.results },
      matmulLoadAvg: matmulLoad,
      scaling,
      packed,
      frozenF16: frozen,
      lmLoss,
      stepLoadAvg: stepLoad,
      loadAvg: Deno.loadavg(),
    },
    null,
    2,
  ));
}
if (lm.some((r) => r.lossesAgree === false)) {
  console.error("bench: mixtune's and PyTorch's GPT-2 losses disagree beyond the tolerance (see above)");
  Deno.exitCode = 1;
}

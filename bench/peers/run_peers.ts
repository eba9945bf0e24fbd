/**
 * Runs every peer of the benchmark (TF.js WebGPU, TF.js CPU, PyTorch CPU) on the same workload, checks that
 * they agree (parameter counts, per-step losses) and prints one table.
 *
 * Run: XDG_RUNTIME_DIR=/tmp deno run -A bench/peers/run_peers.ts
 *        [--warmup 3] [--steps 10] [--no-matmul] [--json]
 */
import { parseArgs } from "node:util";
import { type MatmulResult, tfjsMatmulGflops, tfjsPeer } from "./tfjs_step.ts";
import { blasLine, type TorchBlas, torchPeer, type TorchPeerSkipped } from "./torch.ts";
import type { PeerStepResult } from "./workload.ts";

/** Every peer's figures, the matmul throughputs and whether the peers agree. */
export interface PeerReport {
  date: string;
  /** 1, 5 and 15 minute load averages when the run ended (the machine is shared). */
  loadAvg: number[];
  warmup: number;
  steps: number;
  peers: PeerStepResult[];
  skipped: { backend: string; reason: string }[];
  matmul: { backend: string; results: MatmulResult[] }[];
  agreement: PeerAgreement;
}

/** How closely the peers' models and losses match the first peer's. */
export interface PeerAgreement {
  paramsMatch: boolean;
  /** Largest |loss - reference| / |reference| over all steps and peers. */
  maxLossRelDiff: number;
}

/** Compares parameter counts and per-step losses of all peers against the first. */
export function peerAgreement(peers: PeerStepResult[]): PeerAgreement {
  const ref = peers[0];
  let paramsMatch = true;
  let maxLossRelDiff = 0;
  for (const p of peers.slice(1)) {
    if (p.params.total !== ref.params.total || p.params.trainable !== ref.params.trainable) {
      paramsMatch = false;
    }
    if (p.losses.length !== ref.losses.length) maxLossRelDiff = Infinity;
    ref.losses.forEach((l, i) => {
      maxLossRelDiff = Math.max(maxLossRelDiff, Math.abs((p.losses[i] ?? NaN) - l) / Math.abs(l));
    });
  }
  return { paramsMatch, maxLossRelDiff };
}

/** Runs all peers in turn (one at a time so they do not share the CPU with each other). */
export async function runPeers(
  opts: { warmup?: number; steps?: number; matmul?: boolean } = {},
): Promise<PeerReport> {
  const warmup = opts.warmup ?? 3;
  const steps = opts.steps ?? 10;
  const peers: PeerStepResult[] = [];
  const skipped: { backend: string; reason: string }[] = [];
  for (const backend of ["webgpu", "cpu"] as const) peers.push(await tfjsPeer(backend, { warmup, steps }));
  const torch = await torchPeer({ warmup, steps });
  if ("skipped" in torch) skipped.push({ backend: "torch-cpu", reason: (torch as TorchPeerSkipped).skipped });
  else peers.push(torch);
  const matmul: { backend: string; results: MatmulResult[] }[] = [];
  if (opts.matmul ?? true) {
    for (const backend of ["webgpu", "cpu"] as const) {
      matmul.push({ backend: `tfjs-${backend}`, results: await tfjsMatmulGflops(backend) });
    }
  }
  const date = new Date().toISOString();
  return {
    date,
    loadAvg: Deno.loadavg(),
    warmup,
    steps,
    peers,
    skipped,
    matmul,
    agreement: peerAgreement(peers),
  };
}

/** The report as a plain-text table. */
export function formatPeerReport(r: PeerReport): string {
  const load = r.loadAvg.map((x) => x.toFixed(2)).join(" ");
  const lines = [
    `peers (${r.date}; ${r.warmup} warm-up + ${r.steps} timed steps; load average ${load})`,
    "backend       median ms    min ms   params total/trainable   loss first -> last   device",
  ];
  for (const p of r.peers) {
    const extra = p as PeerStepResult & { torch?: string; threads?: number; blas?: TorchBlas };
    const device = p.adapterInfo ??
      (extra.torch
        ? `torch ${extra.torch}, ${extra.threads} threads${extra.blas ? `, ${blasLine(extra.blas)}` : ""}`
        : "js");
    const params = `${p.params.total}/${p.params.trainable}`;
    const losses = `${p.losses[0].toFixed(4)} -> ${p.losses.at(-1)!.toFixed(4)}`;
    const ms = (x: number): string => x.toFixed(1).padStart(9);
    lines.push(
      `${p.backend.padEnd(12)} ${ms(p.stepMsMedian)} ${ms(Math.min(...p.stepMsAll))}   ${
        params.padEnd(22)
      }   ` +
        `${losses}   ${device}`,
    );
  }
  for (const s of r.skipped) lines.push(`${s.backend.padEnd(12)} skipped: ${s.reason}`);
  const a = r.agreement;
  const rel = a.maxLossRelDiff.toExponential(2);
  lines.push(`agreement: params ${a.paramsMatch ? "match" : "DIFFER"}, max loss rel diff ${rel}`);
  for (const m of r.matmul) {
    lines.push(
      `matmul ${m.backend} (median ms per product; "inner" products queued per synchronised sample):`,
    );
    for (const x of m.results) {
      const shape = `${x.m}x${x.k} @ ${x.k}x${x.n}`.padEnd(22);
      const gflops = x.gflops.toFixed(2).padStart(6);
      lines.push(`  ${shape} ${x.msMedian.toFixed(2).padStart(9)} ms ${gflops} GFLOPS   inner ${x.inner}`);
    }
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      warmup: { type: "string", default: "3" },
      steps: { type: "string", default: "10" },
      "no-matmul": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const report = await runPeers({
    warmup: Number(values.warmup),
    steps: Number(values.steps),
    matmul: !values["no-matmul"],
  });
  console.log(values.json ? JSON.stringify(report) : formatPeerReport(report));
}

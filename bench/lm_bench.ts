/**
 * The bench's real-shape section: each GPT-2 workload of bench/gpt2.ts in mixtune (or the plan's reason why
 * its step does not fit) and in PyTorch, from the same checkpoint, LoRA initial values and batch; step time,
 * tokens per second, memory, and the two sides' losses checked against each other.
 */
import { count, load, loadNote, mib, versus } from "./_format.ts";
import {
  type LmPlan,
  lmPlan,
  lmSpec,
  type LmStepResult,
  type LmWorkload,
  mixtuneLmStep,
  writeLmFiles,
  writeLmStart,
} from "./gpt2.ts";
import { torchLmPeer, type TorchLmResult, type TorchPeerSkipped } from "./peers/torch.ts";

/**
 * Largest relative difference allowed between mixtune's and PyTorch's loss at any step. Both compute in
 * float32; the 30M workload measured at most 1.8e-7 over 4 steps (losses near 10.9), the test's small GPT-2
 * 1.3e-7, while exact instead of tanh gelu moved the small GPT-2's loss by 4e-6. One Adam step on the LoRA
 * tensors moves the loss by about 1e-3 relative, so a wrong update or gradient shows far above this.
 */
export const LM_LOSS_TOLERANCE = 1e-6;

/** One workload's figures from both sides. */
export interface LmBenchResult {
  workload: LmWorkload;
  plan: LmPlan;
  mixtune?: LmStepResult;
  torch?: TorchLmResult;
  torchSkipped?: string;
  /** Largest relative loss difference over the steps both ran; absent unless both ran. */
  maxLossRelDiff?: number;
  lossesAgree?: boolean;
  load: number[];
}

/** Runs every workload, logging its table as it goes. */
export async function lmBench(
  workloads: readonly LmWorkload[],
  opts: {
    warmup: number;
    steps: number;
    peers: boolean;
    log: (s: string) => void;
    progress: (s: string) => void;
  },
): Promise<LmBenchResult[]> {
  const { log } = opts;
  log(
    `\nreal-shape workloads: LoRA r=8 (scale 1) on transformer.h.*.attn.c_attn, Adam (lr 1e-3, no decay) on the ` +
      `LoRA tensors, one fixed batch of random token ids, random checkpoint weights; ${opts.warmup} warm-up + ` +
      `${opts.steps} timed steps a side, each read back; memory: mixtune's planned GPU buffers, PyTorch's ` +
      "resident memory (RSS)",
  );
  const out: LmBenchResult[] = [];
  for (const w of workloads) {
    const loads = [load()];
    opts.progress(`writing ${w.name}'s checkpoint (once per machine) ...`);
    const files = await writeLmFiles(w);
    const spec = lmSpec(w, files);
    await writeLmStart(w, spec, files.start);
    const plan = await lmPlan(spec);
    const r: LmBenchResult = { workload: w, plan, load: loads };
    if (plan.fits) {
      opts.progress(`running mixtune on ${w.name} ...`);
      r.mixtune = await mixtuneLmStep(w, spec, opts);
    }
    if (opts.peers) {
      opts.progress(`running the PyTorch peer on ${w.name} ...`);
      const t = await torchLmPeer({ checkpoint: files.checkpoint, start: files.start, lr: w.lr, ...opts });
      if ("skipped" in t) r.torchSkipped = (t as TorchPeerSkipped).skipped;
      else r.torch = t;
    }
    if (r.mixtune && r.torch) {
      const ours = r.mixtune.losses;
      const theirs = r.torch.losses;
      r.maxLossRelDiff = ours.length === theirs.length
        ? Math.max(...ours.map((l, i) => Math.abs(l - theirs[i]) / Math.abs(theirs[i])))
        : Infinity;
      r.lossesAgree = r.maxLossRelDiff <= LM_LOSS_TOLERANCE;
    }
    loads.push(load());
    out.push(r);
    printWorkload(r, log);
  }
  return out;
}

function printWorkload(r: LmBenchResult, log: (s: string) => void): void {
  const w = r.workload;
  const params = r.mixtune?.params ?? r.torch?.params;
  log(
    `${w.name}: ${w.layers} blocks of ${w.width}, vocabulary ${
      count(w.vocab)
    }, batch ${w.batch} x ${w.context} ` +
      `= ${w.batch * w.context} tokens${
        params ? `; ${count(params.total)} weights, ${count(params.trainable)} trained` : ""
      }`,
  );
  log("                       median ms   tokens/s   vs PyTorch      memory");
  const row = (name: string, ms: number, tps: number, vs: string, memory: string, losses: number[]) =>
    log(
      `  ${name.padEnd(18)} ${ms.toFixed(1).padStart(10)} ${tps.toFixed(1).padStart(10)}   ${
        vs.padEnd(14)
      }  ` +
        `${memory}; loss ${losses[0].toFixed(4)} -> ${losses.at(-1)!.toFixed(4)}`,
    );
  if (r.mixtune) {
    const m = r.mixtune;
    const mem = m.memory;
    row(
      "mixtune (WebGPU)",
      m.stepMsMedian,
      m.tokensPerSecond,
      r.torch ? versus(m.stepMsMedian, r.torch.stepMsMedian, r.torch.blas) : "",
      `planned ${mib(mem.total)} (frozen ${mib(mem.frozen)}, trainable state ${mib(mem.trainableState)}, ` +
        `activations ${mib(mem.activations)})`,
      m.losses,
    );
  } else if (!r.plan.fits) {
    log(`  mixtune (WebGPU)   does not fit: ${r.plan.reason}`);
  }
  if (r.torch) {
    const t = r.torch;
    row(
      "PyTorch CPU",
      t.stepMsMedian,
      t.tokensPerSecond,
      "",
      `RSS ${mib(t.rssLoadedBytes)} with the weights loaded, ${mib(t.rssPeakBytes)} peak`,
      t.losses,
    );
  } else if (r.torchSkipped) log(`  PyTorch CPU        skipped: ${r.torchSkipped}`);
  if (r.mixtune) {
    log(
      `  mixtune: ${r.mixtune.dispatches} dispatches a step, ${
        (r.mixtune.setupMs / 1000).toFixed(1)
      } s to compile and load`,
    );
  }
  if (r.maxLossRelDiff !== undefined) {
    log(
      `  losses ${r.lossesAgree ? "agree" : "DISAGREE"}: largest relative difference ${
        r.maxLossRelDiff.toExponential(2)
      } over ${r.mixtune!.losses.length} step${r.mixtune!.losses.length === 1 ? "" : "s"} (tolerance ${
        LM_LOSS_TOLERANCE.toExponential(0)
      })`,
    );
  }
  log(`  ${loadNote(r.load)}`);
}

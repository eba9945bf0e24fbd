/**
 * PyTorch peers: run torch_step.py (the ViT-tiny step), torch_gpt2.py (the GPT-2 steps) and torch_matmul.py
 * with the first Python that can import torch, or say how to get one. Each reports the BLAS it ran on.
 */
import { fileURLToPath } from "node:url";
import type { PeerStepResult, PeerWorkload } from "./workload.ts";

/** Options of `torchPeer`, passed to torch_step.py as one JSON argument. */
export interface TorchPeerOptions {
  warmup?: number;
  steps?: number;
  seed?: number;
  /** CPU threads for PyTorch. Default 2. */
  threads?: number;
  workload?: Partial<PeerWorkload>;
  /** Pythons to try in order. Default /usr/bin/python3, then python3 on PATH. */
  pythons?: string[];
}

/** The BLAS a PyTorch process ran on (bench/peers/torch_blas.py). */
export interface TorchBlas {
  /** torch's build setting, e.g. `BLAS_INFO=generic` (Debian: whatever libblas.so.3 is). */
  build: string;
  /** "OpenBLAS", "MKL", "BLIS", "ATLAS", "reference" (netlib) or "unknown". */
  kind: string;
  /** True for the reference (netlib) BLAS: no figure is compared against it. */
  reference: boolean;
  /** The file torch's sgemm_ resolved to. */
  library: string | null;
  /** The Debian package and version that installed it. */
  package: string | null;
  /** OpenBLAS's own description (version, kernel, MAX_THREADS). */
  openblasConfig: string | null;
  /** Threads OpenBLAS runs a product on. */
  blasThreads: number | null;
  torchThreads: number;
}

/** The PyTorch peer's figures, plus the interpreter and versions that produced them. */
export interface TorchPeerResult extends PeerStepResult {
  python: string;
  torch: string;
  threads: number;
  blas: TorchBlas;
}

/** Why the PyTorch peer did not run, with the command that would make it run. */
export interface TorchPeerSkipped {
  skipped: string;
}

const INSTALL_HINT = "on Debian/Ubuntu run `apt-get install -y python3-torch` and use /usr/bin/python3 " +
  "(or `pip install torch` for another python3)";

async function canImportTorch(python: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import torch"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return out.success;
  } catch (e) {
    // No interpreter at that path: try the next one. Anything else (say, no --allow-run) is the caller's to see.
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Runs the PyTorch CPU step and returns its figures, or `{skipped}` when no Python here has torch. */
export async function torchPeer(opts: TorchPeerOptions = {}): Promise<TorchPeerResult | TorchPeerSkipped> {
  const threads = opts.threads ?? 2;
  return await runTorchScript<TorchPeerResult>("torch_step.py", {
    warmup: opts.warmup ?? 3,
    steps: opts.steps ?? 10,
    seed: opts.seed ?? 1,
    threads,
    workload: opts.workload ?? {},
  }, { threads, pythons: opts.pythons });
}

/**
 * Runs `script` (a file beside this one) with `args` as one JSON argument under the first Python that imports
 * torch, and parses the JSON of its last stdout line (plus `python`). OpenBLAS gets `threads` threads, as
 * torch does (the script calls torch.set_num_threads); a failing script throws with its last stderr lines.
 */
export async function runTorchScript<T>(
  script: string,
  args: unknown,
  opts: { threads: number; pythons?: string[] },
): Promise<(T & { python: string }) | TorchPeerSkipped> {
  const pythons = opts.pythons ?? ["/usr/bin/python3", "python3"];
  let python: string | undefined;
  for (const p of pythons) {
    if (await canImportTorch(p)) {
      python = p;
      break;
    }
  }
  if (!python) return { skipped: `PyTorch not importable by ${pythons.join(" or ")}: ${INSTALL_HINT}` };
  const path = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const out = await new Deno.Command(python, {
    args: [path, JSON.stringify(args)],
    env: { OPENBLAS_NUM_THREADS: String(opts.threads) },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${script} failed with exit code ${out.code} under ${python}:\n${err}`);
  }
  const lastLine = text.split("\n").at(-1) ?? "";
  return { ...JSON.parse(lastLine), python } as T & { python: string };
}

/**
 * One line naming the BLAS a PyTorch peer ran on, e.g. `OpenBLAS 0.3.21 ... (libopenblas0-pthread 0.3.21+ds-4,
 * /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3), 2 BLAS threads, torch 2 threads`.
 */
export function blasLine(b: TorchBlas): string {
  const name = b.kind === "reference"
    ? "the reference BLAS (netlib, unoptimised)"
    : b.kind === "OpenBLAS" && b.openblasConfig
    ? b.openblasConfig
    : b.kind;
  const where = [b.package, b.library].filter((x) => x).join(", ");
  const threads = b.blasThreads === null ? "" : `, ${b.blasThreads} BLAS threads`;
  return `${name}${where ? ` (${where})` : ""}${threads}, torch ${b.torchThreads} threads; ${b.build}`;
}

/** The PyTorch GPT-2 peer's figures (torch_gpt2.py). */
export interface TorchLmResult {
  backend: string;
  stepMsMedian: number;
  stepMsAll: number[];
  tokensPerSecond: number;
  losses: number[];
  params: { total: number; trainable: number };
  /** Resident memory once the weights are loaded, and the process's peak. */
  rssLoadedBytes: number;
  rssPeakBytes: number;
  python: string;
  torch: string;
  threads: number;
  blas: TorchBlas;
}

/** Runs torch_gpt2.py on a checkpoint folder and start file written by bench/gpt2.ts. */
export async function torchLmPeer(
  opts: { checkpoint: string; start: string; lr: number; warmup: number; steps: number; threads?: number },
): Promise<TorchLmResult | TorchPeerSkipped> {
  const threads = opts.threads ?? 2;
  return await runTorchScript<TorchLmResult>("torch_gpt2.py", { ...opts, threads }, { threads });
}

/** A matmul shape as the PyTorch peer takes it: B is [n, k], transposed, when `transB`. */
export interface TorchMatmulShape {
  m: number;
  k: number;
  n: number;
  transB?: boolean;
}

/** PyTorch's matmul throughput (torch_matmul.py) on `shapes`, and the BLAS it ran on. */
export async function torchMatmulGflops(
  shapes: TorchMatmulShape[],
  threads = 2,
): Promise<
  | {
    results: (TorchMatmulShape & { inner: number; msMedian: number; gflops: number })[];
    torch: string;
    blas: TorchBlas;
  }
  | TorchPeerSkipped
> {
  return await runTorchScript("torch_matmul.py", { shapes, threads }, { threads });
}

/** PyTorch peer: runs torch_step.py with the first Python that can import torch, or says how to get one. */
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

/** The PyTorch peer's figures, plus the interpreter and versions that produced them. */
export interface TorchPeerResult extends PeerStepResult {
  python: string;
  torch: string;
  threads: number;
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
  const pythons = opts.pythons ?? ["/usr/bin/python3", "python3"];
  let python: string | undefined;
  for (const p of pythons) {
    if (await canImportTorch(p)) {
      python = p;
      break;
    }
  }
  if (!python) return { skipped: `PyTorch not importable by ${pythons.join(" or ")}: ${INSTALL_HINT}` };
  const script = fileURLToPath(new URL("./torch_step.py", import.meta.url));
  const args = JSON.stringify({
    warmup: opts.warmup ?? 3,
    steps: opts.steps ?? 10,
    seed: opts.seed ?? 1,
    threads: opts.threads ?? 2,
    workload: opts.workload ?? {},
  });
  const out = await new Deno.Command(python, { args: [script, args], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`torch_step.py failed with exit code ${out.code} under ${python}:\n${err}`);
  }
  const lastLine = text.split("\n").at(-1) ?? "";
  return { ...JSON.parse(lastLine), python } as TorchPeerResult;
}

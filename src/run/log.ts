/** Progress output: a one-line bar on a terminal, plain log lines otherwise. */

/** One progress report. */
export interface Progress {
  /** The stage being trained. */
  stage: string;
  /** Steps done. */
  step: number;
  /** Steps in the stage. */
  steps: number;
  /** Training loss of the last step. */
  loss: number;
  /** Throughput, in training examples a second. */
  samplesPerSec: number;
  /** Throughput, in steps a second. */
  stepsPerSec: number;
  /** Tokens an example holds (a language model's context), to show tokens a second; unset for images. */
  tokensPerSample?: number;
  /** The step's planned GPU memory, in bytes. */
  memoryBytes?: number;
}

/** A rate with three significant digits at most and never rounded to 0: 0.0412, 3.27, 52.1, 1,530. */
export function formatRate(x: number): string {
  if (!Number.isFinite(x) || x <= 0) return "0";
  if (x >= 100) return Math.round(x).toLocaleString("en-US");
  return Number(x.toPrecision(3)).toString();
}

/** Seconds as `42s`, `5m 36s` or `2h 05m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * One progress report as text: `ft step 10/250 loss 3.1192 | 1.43 s/step, 22.4 samples/s (716 tokens/s) |
 * eta 5m 43s | GPU 62.6 MiB planned`.
 */
export function progressText(p: Progress): string {
  const perStep = p.stepsPerSec > 0 ? `${formatRate(1 / p.stepsPerSec)} s/step, ` : "";
  const tokens = p.tokensPerSample ? ` (${formatRate(p.samplesPerSec * p.tokensPerSample)} tokens/s)` : "";
  const eta = p.stepsPerSec > 0 ? formatDuration((p.steps - p.step) / p.stepsPerSec) : "-";
  const memory = p.memoryBytes ? ` | GPU ${(p.memoryBytes / 2 ** 20).toFixed(1)} MiB planned` : "";
  return `${p.stage} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} | ${perStep}` +
    `${formatRate(p.samplesPerSec)} samples/s${tokens} | eta ${eta}${memory}`;
}

/** Where a run reports to. */
export interface Logger {
  /** Prints one line (stage started, reused, report written). */
  line(text: string): void;
  /** Shows training progress. */
  progress(p: Progress): void;
}

/**
 * A logger for stderr: redraws one line on a TTY, prints a line per report when piped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleLogger } from "../../mod.ts";
 * const log = consoleLogger();
 * log.line("pretrain: train -> runs/demo/pretrain-0123abcd");
 * log.progress({ stage: "pretrain", step: 10, steps: 100, loss: 1.5, samplesPerSec: 320, stepsPerSec: 10 });
 * assert.equal(typeof consoleLogger(true).line, "function"); // quiet: prints nothing
 * ```
 */
export function consoleLogger(quiet = false): Logger {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let open = false;
  const write = (s: string) => Deno.stderr.writeSync(enc.encode(s));
  return {
    line(text) {
      if (quiet) return;
      if (open) write("\n");
      open = false;
      write(text + "\n");
    },
    progress(p) {
      if (quiet) return;
      const text = progressText(p);
      if (tty) {
        const width = 20;
        const filled = Math.round(width * p.step / p.steps);
        write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${text}   `);
        open = true;
        if (p.step === p.steps) {
          write("\n");
          open = false;
        }
      } else write(text + "\n");
    },
  };
}

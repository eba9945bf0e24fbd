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
      const eta = p.stepsPerSec > 0 ? Math.round((p.steps - p.step) / p.stepsPerSec) : 0;
      const text = `${p.stage} step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} ` +
        `${p.samplesPerSec.toFixed(0)} samples/s eta ${eta}s`;
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

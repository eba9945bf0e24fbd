/** Progress output: a one-line bar on a terminal, plain log lines otherwise. */

/** One progress report. */
export interface Progress {
  stage: string;
  step: number;
  steps: number;
  loss: number;
  samplesPerSec: number;
  stepsPerSec: number;
}

/** Where a run reports to. */
export interface Logger {
  line(text: string): void;
  progress(p: Progress): void;
}

/** A logger for stderr: redraws one line on a TTY, prints a line per report when piped. */
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

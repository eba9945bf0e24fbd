import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { scriptExitCode, ScriptUsageError } from "../src/cli/script.ts";
import { PipelineError } from "../src/spec/problem.ts";
import { formatDuration, formatRate, progressText } from "../src/run/log.ts";

/** What `scriptExitCode` returns and prints to stderr for `main`. */
async function outcome(main: () => Promise<number | void>): Promise<[number, string[]]> {
  const lines: string[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return [await scriptExitCode(main, "demo.ts"), lines];
  } finally {
    console.error = error;
  }
}

Deno.test("scriptExitCode() prints a failure as one line naming the script, with the CLI's exit codes", async () => {
  assert.deepEqual(await outcome(() => Promise.resolve()), [0, []]);
  assert.deepEqual(await outcome(() => Promise.resolve(3)), [3, []]);
  const failure = new Error("runs/x/spec.json: no such file\n    at mergeStage (merge_stage.ts:10:3)");
  assert.deepEqual(await outcome(() => Promise.reject(failure)), [1, [
    "demo.ts: runs/x/spec.json: no such file",
  ]]);
  assert.deepEqual(await outcome(() => Promise.reject("a string")), [1, ["demo.ts: a string"]]);
  assert.deepEqual(await outcome(() => Promise.reject(new ScriptUsageError("--steps: expected a number"))), [
    2,
    ["demo.ts: --steps: expected a number"],
  ]);
  const [code, lines] = await outcome(() => {
    parseArgs({ args: ["--nope"], options: {} });
    return Promise.resolve();
  });
  assert.equal(code, 2);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^demo\.ts: Unknown option '--nope'/);
  const invalid = new PipelineError([{ path: "stages.t.steps", message: "expected at least 1" }]);
  assert.deepEqual(await outcome(() => Promise.reject(invalid)), [2, [invalid.format()]]);
});

Deno.test("progressText() shows rates below one a second, seconds per step, tokens, the ETA and memory", () => {
  assert.equal(
    progressText({
      stage: "ft",
      step: 10,
      steps: 250,
      loss: 3.11923,
      samplesPerSec: 0.7,
      stepsPerSec: 0.7 / 4,
      tokensPerSample: 256,
      memoryBytes: 62.61 * 2 ** 20,
    }),
    "ft step 10/250 loss 3.1192 | 5.71 s/step, 0.7 samples/s (179 tokens/s) | eta 22m 51s | GPU 62.6 MiB planned",
  );
  assert.equal(
    progressText({ stage: "pre", step: 5, steps: 5, loss: 1, samplesPerSec: 1530.4, stepsPerSec: 23.9 }),
    "pre step 5/5 loss 1.0000 | 0.0418 s/step, 1,530 samples/s | eta 0s",
  );
  assert.equal(formatRate(0.0412345), "0.0412");
  assert.equal(formatRate(0), "0");
  assert.equal(formatDuration(7530), "2h 05m");
});

import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { scriptExitCode, ScriptUsageError } from "../src/cli/script.ts";
import { PipelineError } from "../src/spec/problem.ts";

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

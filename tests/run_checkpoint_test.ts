import assert from "node:assert/strict";
import { runPipeline } from "../src/run/pipeline.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  copyOfReference,
  exists,
  loadFixture,
  metricsWithoutTiming,
  removeOut,
  summaryWithoutTiming,
  withoutTimings,
} from "./fixtures/helpers.ts";

/** Every path under `root` whose name is a temporary one. */
async function temporaries(root: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(root)) {
    const path = `${root}/${e.name}`;
    if (/\.tmp-\d+$|^checkpoint\.tmp$/.test(e.name)) found.push(path);
    else if (e.isDirectory) found.push(...await temporaries(path));
  }
  return found;
}

Deno.test("a run killed after a stage's final checkpoint resumes to the summary of an uninterrupted run", async () => {
  if (!(await testDevice())) return;
  const { out, ref, ft, check } = await copyOfReference();
  try {
    // the state a kill leaves between the final checkpoint and summary.json, with half-written files
    const dir = `${out}/tiny/${ft}`;
    for (const f of [`${dir}/summary.json`, `${out}/tiny/${check}/summary.json`, `${out}/tiny/run.json`]) {
      await Deno.remove(f);
    }
    await Deno.writeTextFile(`${dir}/summary.json.tmp-4242`, "{");
    await Deno.writeTextFile(`${out}/tiny/run.json.tmp-4242`, "");
    await Deno.mkdir(`${dir}/checkpoint.tmp`);
    const log = captureLog();
    await runPipeline(await loadFixture("tiny.yaml"), { out, resume: true, log });
    assert.ok(log.lines.includes("finetune: resuming at step 12 of 12"), log.lines.join("\n"));
    assert.deepEqual(
      await summaryWithoutTiming(`${dir}/summary.json`),
      await summaryWithoutTiming(`${ref}/${ft}/summary.json`),
    );
    assert.deepEqual(
      await summaryWithoutTiming(`${out}/tiny/${check}/summary.json`),
      await summaryWithoutTiming(`${ref}/${check}/summary.json`),
    );
    assert.deepEqual(await temporaries(out), []);
  } finally {
    await removeOut(out);
  }
});

Deno.test("a resume falls back to the previous checkpoint when the last one fails its sha-256", async () => {
  if (!(await testDevice())) return;
  const { out, ref, ft } = await copyOfReference();
  try {
    const dir = `${out}/tiny/${ft}`;
    await Deno.remove(`${dir}/summary.json`);
    // one flipped bit in the last weight of the final checkpoint (step 12); the previous one is step 8
    const file = `${dir}/checkpoint/weights.safetensors`;
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(file, bytes);
    const log = captureLog();
    await runPipeline(await loadFixture("tiny.yaml"), { out, resume: true, log });
    assert.deepEqual(withoutTimings(log.lines).filter((l) => l.startsWith("finetune: ")).slice(1), [
      `finetune: checkpoint ${dir}/checkpoint is damaged: weights.safetensors does not match its sha-256 in sha256.txt`,
      `finetune: resuming from the previous checkpoint ${dir}/checkpoint.old instead; ` +
      `the damaged one is now ${dir}/checkpoint.damaged`,
      "finetune: resuming at step 8 of 12",
    ]);
    // the good step-8 checkpoint stays the previous one; the damaged one is set aside, not rotated in
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.old/state.json`)).step, 8);
    assert.equal(await exists(`${dir}/checkpoint.damaged/weights.safetensors`), true);
    assert.deepEqual(
      await Deno.readFile(`${dir}/weights.safetensors`),
      await Deno.readFile(`${ref}/${ft}/weights.safetensors`),
    );
    assert.deepEqual(
      await summaryWithoutTiming(`${dir}/summary.json`),
      await summaryWithoutTiming(`${ref}/${ft}/summary.json`),
    );
    assert.deepEqual(
      await metricsWithoutTiming(`${dir}/metrics.jsonl`),
      await metricsWithoutTiming(`${ref}/${ft}/metrics.jsonl`),
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("a resume with every checkpoint damaged fails naming them and what to do", async () => {
  if (!(await testDevice())) return;
  const { out, ft } = await copyOfReference();
  try {
    const dir = `${out}/tiny/${ft}`;
    await Deno.remove(`${dir}/summary.json`);
    const state = `${dir}/checkpoint/state.json`;
    const text = await Deno.readTextFile(state);
    await Deno.writeTextFile(state, text.slice(0, text.length >> 1)); // truncated
    await Deno.remove(`${dir}/checkpoint.old/sha256.txt`);
    await assert.rejects(
      runPipeline(await loadFixture("tiny.yaml"), { out, resume: true, log: captureLog() }),
      {
        name: "CheckpointError",
        message: `no usable checkpoint: ${dir}/checkpoint and ${dir}/checkpoint.old are damaged; ` +
          "delete them to start the stage from step 0",
      },
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("a resume with no checkpoint says so before starting at step 0", async () => {
  if (!(await testDevice())) return;
  const { out, ref, ft } = await copyOfReference();
  try {
    const dir = `${out}/tiny/${ft}`;
    for (const f of ["summary.json", "checkpoint", "checkpoint.old"]) {
      await Deno.remove(`${dir}/${f}`, { recursive: true });
    }
    const log = captureLog();
    await runPipeline(await loadFixture("tiny.yaml"), { out, resume: true, log });
    assert.ok(
      log.lines.includes(`finetune: no checkpoint in ${dir} to resume from; starting at step 0`),
      log.lines.join("\n"),
    );
    assert.deepEqual(
      await summaryWithoutTiming(`${dir}/summary.json`),
      await summaryWithoutTiming(`${ref}/${ft}/summary.json`),
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("a damaged summary.json of a reused stage is an error that names the file", async () => {
  if (!(await testDevice())) return;
  const { out, pre } = await copyOfReference();
  try {
    const file = `${out}/tiny/${pre}/summary.json`;
    await Deno.writeTextFile(file, "");
    await assert.rejects(runPipeline(await loadFixture("tiny.yaml"), { out, log: captureLog() }), {
      message: `${file} is not valid JSON (Unexpected end of JSON input): the file is damaged or incomplete`,
    });
  } finally {
    await removeOut(out);
  }
});

import assert from "node:assert/strict";
import { runPipeline } from "../src/run/pipeline.ts";
import { testDevice } from "./_harness.ts";
import {
  captureLog,
  cliCommand,
  copyOfReference,
  exists,
  fixture,
  loadFixture,
  removeOut,
  stagePath,
  tempOut,
} from "./fixtures/helpers.ts";

Deno.test("Ctrl-C (SIGINT) stops a run with exit 130, saying where the results are and how to resume", async () => {
  if (!(await testDevice())) return;
  const spec = await loadFixture("tiny.yaml");
  const out = await tempOut();
  try {
    const dir = await stagePath(out, spec, "pretrain");
    const child = cliCommand([fixture("tiny.yaml"), "--out", out]).spawn();
    let ended = false;
    const status = child.status.then(() => ended = true);
    const deadline = Date.now() + 120_000;
    // interrupted once the first metrics line of pretrain is written
    while (!ended && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      if ((await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => "")) !== "") break;
    }
    assert.ok(!ended, "the run ended before it could be interrupted");
    child.kill("SIGINT");
    await status;
    const { code, stderr } = await child.output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 130, text);
    assert.equal(
      text.trimEnd().split("\n").at(-1),
      `interrupted: partial results are in ${out}/tiny; run the same command with --resume to continue`,
    );
    assert.equal(await exists(`${out}/tiny/report.html`), false);
  } finally {
    await removeOut(out);
  }
});

Deno.test("summary.json and run.json record wall times; an evaluate stage logs its start and end", async () => {
  if (!(await testDevice())) return;
  const { out, ref, pre, ft, check } = await copyOfReference();
  try {
    for (const s of [pre, ft, check]) {
      const summary = JSON.parse(await Deno.readTextFile(`${ref}/${s}/summary.json`));
      assert.ok(summary.wallSeconds > 0, `${s}: wallSeconds ${summary.wallSeconds}`);
    }
    await Deno.remove(`${out}/tiny/${check}/summary.json`);
    const log = captureLog();
    await runPipeline(await loadFixture("tiny.yaml"), { out, log });
    assert.equal(log.lines.length, 5, log.lines.join("\n"));
    assert.equal(log.lines[2], `check: evaluate -> ${out}/tiny/${check}`);
    assert.match(log.lines[3], /^check: done in \d+(\.\d+)? s$/);
    assert.equal(log.lines[4], `report: ${out}/tiny/report.html`);
    const run = JSON.parse(await Deno.readTextFile(`${out}/tiny/run.json`));
    const seconds = run.stages.map((s: { seconds: number }) => s.seconds);
    assert.equal(seconds.length, 3);
    assert.ok(seconds.every((s: number) => s >= 0) && seconds[2] > 0, `${seconds}`);
    assert.ok(run.seconds >= seconds[0] + seconds[1] + seconds[2] - 0.003, `${run.seconds} for ${seconds}`);
    const summary = JSON.parse(await Deno.readTextFile(`${out}/tiny/${check}/summary.json`));
    assert.ok(summary.wallSeconds > 0, `${summary.wallSeconds}`);
  } finally {
    await removeOut(out);
  }
});

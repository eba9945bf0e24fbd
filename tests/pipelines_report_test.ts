import assert from "node:assert/strict";
import { testDevice } from "./_harness.ts";
import { loadPipeline } from "../src/cli/load.ts";
import type { PipelineSpec } from "../src/spec/types.ts";
import { cli, exists, fixture, removeOut, ROOT, tempOut } from "./fixtures/helpers.ts";

/**
 * Runs a shipped pipeline for 2 steps a train stage (every stage, evaluation and export included, for
 * real) and checks that the run wrote its report; the YAML twins are the same specs (spec_twins_test.ts).
 */
async function reportOf(
  file: string,
  name: string,
  stages: string[],
  change?: (spec: PipelineSpec) => PipelineSpec,
): Promise<void> {
  if (!(await testDevice())) return;
  const out = await tempOut();
  try {
    let run = file;
    if (change) {
      run = `${out}/${name}.json`;
      await Deno.writeTextFile(run, JSON.stringify(change(await loadPipeline(ROOT + file))));
    }
    const r = await cli([run, "--steps", "2", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const report = `${out}/${name}/report.html`;
    assert.ok(r.stderr.split("\n").includes(`report: ${report}`), r.stderr);
    const html = await Deno.readTextFile(report);
    for (const s of stages) assert.ok(html.includes(`>${s}<`), `stage ${s} in the report`);
  } finally {
    await removeOut(out);
  }
}

Deno.test("pipelines/quickstart.ts at --steps 2 writes its report", async () => {
  await reportOf("pipelines/quickstart.ts", "quickstart", ["pretrain", "before", "finetune", "after"]);
});

Deno.test("pipelines/cooldown.ts at --steps 2 writes its report (a UniMax stage among them)", async () => {
  await reportOf("pipelines/cooldown.ts", "cooldown", ["t1", "t5", "t100", "scalar5", "unimax", "cooldown"]);
});

Deno.test("pipelines/cooldown_overfit.ts at --steps 2 writes its report (a cut of vi, 30% held out)", async () => {
  await reportOf("pipelines/cooldown_overfit.ts", "cooldown_overfit", ["t1", "t5", "cooldown"]);
});

/** `spec` with at most `count` images a domain (each domain's `take`, before its split). */
function fewer(spec: PipelineSpec, count: number): PipelineSpec {
  const domains = Object.fromEntries(
    Object.entries(spec.domains).map(([name, d]) => [name, {
      ...d,
      transforms: d.transforms?.map((t) => t.kind === "take" ? { ...t, count: Math.min(t.count, count) } : t),
    }]),
  );
  return { ...spec, domains };
}

// Its four evaluation stages embed every gallery and probe image (about 10,000 each): the same pipeline with
// 300 images a domain runs every stage, gate, evaluation and export the same way in a fraction of the time.
Deno.test("pipelines/petalface.ts at --steps 2 writes its report (explicit mix weights)", async () => {
  await reportOf("pipelines/petalface.ts", "petalface", [
    "pretrain",
    "full",
    "lora",
    "petalface",
    "eval_pretrain",
    "eval_full",
    "eval_lora",
    "eval_petalface",
    "export_petalface",
  ], (spec) => fewer(spec, 300));
});

Deno.test("a run whose report cannot be written exits 1 and says where its results are", async () => {
  if (!(await testDevice())) return;
  const out = await tempOut();
  try {
    // a folder where the report file should go
    await Deno.mkdir(`${out}/tiny/report.html`, { recursive: true });
    const r = await cli([fixture("tiny.yaml"), "--stage", "pretrain", "--out", out]);
    assert.equal(r.code, 1, r.stderr);
    const [first, second] = r.stderr.trimEnd().split("\n").slice(-2);
    assert.ok(first.startsWith("report not written: ") && first.includes(`${out}/tiny/report.html`), first);
    assert.equal(second, `the stages' results are in ${out}/tiny`);
    assert.ok(await exists(`${out}/tiny/run.json`));
  } finally {
    await removeOut(out);
  }
});

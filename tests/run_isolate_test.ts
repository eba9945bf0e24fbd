/**
 * `packing: isolate` through the pipeline: a bad value is exit 2 naming the spec path, the plan shows the mode and
 * the packing efficiency, and a stage trains on isolated examples (micro-batches included); its losses differ
 * from the same windows packed without isolation, and a pipeline whose graphs read positions trains a `pack`
 * domain exactly as one without them.
 */
import assert from "node:assert/strict";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { formatPlan } from "../src/cli/format.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import type { PipelineSpec } from "../src/spec/types.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { parseYaml } from "../src/spec/yaml.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, cli, metricsWithoutTiming, removeOut, stagePath, tempOut } from "./fixtures/helpers.ts";

/** Prompt/completion pairs of many lengths, several to a window of 33 bytes. */
function examples(): string {
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) {
    lines.push(
      JSON.stringify({
        prompt: "q".repeat(1 + (i * 7) % 5) + `${i}?`,
        completion: " " + "ab".repeat(1 + i % 3),
      }),
    );
  }
  return lines.join("\n") + "\n";
}

/** A pipeline training `qa` (packed by `packing`), with an unused isolated domain `other` when `extra`. */
function yaml(dir: string, packing: string, extra = false): string {
  return [
    "name: isolate",
    "seed: 3",
    "domains:",
    `  qa: { source: { kind: jsonl, path: ${dir}/qa.jsonl, packing: ${packing} }, transforms: [{ kind: split, validation: 0.25 }] }`,
    ...(extra ? [`  other: { source: { kind: jsonl, path: ${dir}/qa.jsonl, packing: isolate } }`] : []),
    "model: { backbone: lm, context: 32, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }",
    "stages:",
    "  tune:",
    "    kind: train",
    "    mix: { domains: [qa], strategy: temperature }",
    "    loss: { kind: lm }",
    "    optimizer: { kind: adamw, lr: 1.0e-2 }",
    "    steps: 3",
    "    batch: 4",
    "    accumulate: 2",
    "    logEvery: 1",
    "",
  ].join("\n");
}

function specOf(dir: string, packing: string, extra = false): PipelineSpec {
  return validatePipeline(parseYaml(yaml(dir, packing, extra), "p.yaml").value);
}

Deno.test("packing must be pack, pad or isolate: exit 2 naming domains.<name>.source.packing", async () => {
  const dir = await tempOut();
  try {
    await Deno.writeTextFile(`${dir}/qa.jsonl`, examples());
    await Deno.writeTextFile(`${dir}/p.yaml`, yaml(dir, "isolated"));
    const r = await cli([`${dir}/p.yaml`, "--plan"]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      new RegExp(
        `^${dir}/p\\.yaml:4:\\d+ domains\\.qa\\.source\\.packing: expected one of "pack", "pad", "isolate", ` +
          `found "isolated"[^\\n]*\\n$`,
      ),
    );
  } finally {
    await removeOut(dir);
  }
});

Deno.test("the plan shows the packing mode and efficiency of an isolated domain", async () => {
  const dir = await tempOut();
  try {
    await Deno.writeTextFile(`${dir}/qa.jsonl`, examples());
    const plan = await planPipeline(specOf(dir, "isolate"));
    const d = plan.stages[0].sampling!.domains[0];
    assert.equal(d.packingMode, "isolate");
    const p = d.packing!;
    assert.ok(p.efficiency > 0.5 && p.efficiency < 1, JSON.stringify(p));
    const printed = formatPlan(plan).split("\n");
    const header = printed.findIndex((l) => l.startsWith("supervised examples"));
    assert.ok(header >= 0, printed.join("\n"));
    const row = printed.slice(header).find((l) => /^\s*qa\s/.test(l) || l.startsWith("qa "));
    assert.ok(row, printed.slice(header).join("\n"));
    const cells = row.trim().split(/\s+/);
    assert.deepEqual(cells.slice(0, 5), [
      "qa",
      "isolate",
      String(p.examples),
      String(p.trainedTokens),
      String(p.tokens),
    ]);
    assert.equal(Number(cells[5]), Number(p.efficiency.toFixed(4)));
    // the same data packed plainly: the same windows and efficiency, the mode "pack"
    const pack = (await planPipeline(specOf(dir, "pack"))).stages[0].sampling!.domains[0];
    assert.deepEqual([pack.packingMode, pack.packing], ["pack", p]);
  } finally {
    await removeOut(dir);
  }
});

Deno.test("a stage trains on isolated examples; pack in a graph with positions trains as without them", async () => {
  const device = await testDevice();
  if (!device) return;
  const dir = await tempOut();
  try {
    await Deno.writeTextFile(`${dir}/qa.jsonl`, examples());
    const losses = async (packing: string, extra = false) => {
      const spec = specOf(dir, packing, extra);
      const out = `${dir}/${packing}${extra ? "-extra" : ""}`;
      await runPipeline(spec, { out, log: captureLog() });
      const metrics = await metricsWithoutTiming(`${await stagePath(out, spec, "tune")}/metrics.jsonl`);
      assert.deepEqual(metrics.map((m) => `${m.type} ${m.step}`), [
        "train 1",
        "train 2",
        "train 3",
        "eval 3",
      ]);
      return metrics.map((m) =>
        m.type === "train" ? m.loss as number : (m.validationLoss as Record<string, number>).qa
      );
    };
    const isolated = await losses("isolate");
    const packed = await losses("pack");
    const withPositions = await losses("pack", true);
    for (const l of [...isolated, ...packed]) assert.ok(Number.isFinite(l) && l > 0, String(l));
    // the same windows, the same draws: only attention and positions differ
    assert.notEqual(isolated[0], packed[0]);
    // positions 0..T-1 fed to a graph that reads them: the same bits as the plain graph
    assert.deepEqual(withPositions, packed);
    console.log(
      `step-1 loss: isolate ${isolated[0]}, pack ${packed[0]}; validation ${isolated[3]} / ${packed[3]}`,
    );
  } finally {
    await removeOut(dir);
  }
});

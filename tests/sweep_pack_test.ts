/**
 * The local executor packs compatible fine-tuning stage runs: the tiny sweep without mid-run checkpoints
 * (2 learning rates x 2 seeds) trains each seed's two fine-tunings in one process and one packed step, and
 * every stage folder equals the one the same variant writes alone (packed stages within the packed-vs-alone
 * tolerance of run_packed_test.ts, the rest exactly).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPipelineSource, parseSetValue } from "../src/cli/load.ts";
import { readWeights } from "../src/run/checkpoint.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { applySets } from "../src/spec/sweep.ts";
import { planSweep } from "../src/sweep/plan.ts";
import { relError, testDevice } from "./_harness.ts";
import {
  captureLog,
  fixture,
  metricsWithoutTiming,
  removeOut,
  ROOT,
  summaryWithoutTiming,
  tempOut,
} from "./fixtures/helpers.ts";

const SET = ["--set", "stages.finetune.checkpointEvery=12"];

/** `deno task sweep ARGS` as a child process in the repository root. */
async function sweep(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/sweep/main.ts", ...args],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

async function tinyPlan() {
  const { spec, sweep: declared } = await loadPipelineSource(ROOT + fixture("tiny_sweep.yaml"));
  return await planSweep(applySets(spec, [SET[1]], parseSetValue), declared!);
}

Deno.test("deno task sweep --plan says which stage runs are packed, their memory and the processes", async () => {
  const out = await tempOut();
  try {
    const { plan } = await tinyPlan();
    const finetunes = (seed: string) =>
      plan.stageRuns.filter((r) => r.stage === "finetune" && r.variants[0].endsWith(seed));
    const r = await sweep([fixture("tiny_sweep.yaml"), ...SET, "--plan", "--json", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const { packing } = JSON.parse(r.stdout);
    assert.deepEqual(
      packing.packs.map((
        p: { id: string; stageRuns: string[]; variants: string[] },
      ) => [p.id, p.stageRuns, p.variants]),
      [
        ["pack-1", finetunes("seed=1").map((r) => r.id), ["lr=5e-3,seed=1", "lr=0.01,seed=1"]],
        ["pack-2", finetunes("seed=2").map((r) => r.id), ["lr=5e-3,seed=2", "lr=0.01,seed=2"]],
      ],
    );
    // 2 pretrain + 2 packs + 4 evaluations
    assert.deepEqual([packing.limit, packing.toRun, packing.processes, packing.alone], [8, 10, 8, []]);
    // the planned memory of a packed step of 2: more than none, the parts add up
    const m = packing.packs[0].memory;
    assert.ok(m.frozen > 0 && m.trainableState > 0 && m.activations > 0, JSON.stringify(m));
    assert.equal(m.total, m.frozen + m.trainableState + m.activations);
    const text = await sweep([fixture("tiny_sweep.yaml"), ...SET, "--plan", "--out", out]);
    assert.match(
      text.stdout,
      /^packs \(at most 8 stage runs each\): 2; 10 stage runs to run in 8 processes$/m,
    );
    assert.match(
      text.stdout,
      new RegExp(
        `^pack-1 +${packing.packs[0].stageRuns.join(" ")} +lr=5e-3,seed=1 lr=0\\.01,seed=1 +[\\d.]+ KiB$`,
        "m",
      ),
    );
    // --pack 1: every stage run alone
    const one = JSON.parse(
      (await sweep([fixture("tiny_sweep.yaml"), ...SET, "--plan", "--json", "--pack", "1", "--out", out]))
        .stdout,
    );
    assert.deepEqual([one.packing.packs, one.packing.processes], [[], 10]);
    // the fixture as written checkpoints its fine-tuning every 4 steps: no packs, and the plan says why
    const as = await sweep([fixture("tiny_sweep.yaml"), "--plan", "--out", out]);
    assert.match(
      as.stdout,
      /^packs \(at most 8 stage runs each\): 0; 10 stage runs to run in 10 processes$/m,
    );
    assert.equal(
      as.stdout.split("\n").filter((l) =>
        l.endsWith(
          " runs alone: tiny_sweep stages.finetune: checkpoints mid-run, which packed runs do not do",
        )
      ).length,
      4,
    );
    const bad = await sweep([fixture("tiny_sweep.yaml"), "--plan", "--pack", "0"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.split("\n")[0], "--pack: expected an integer >= 1, found 0");
    assert.deepEqual([...Deno.readDirSync(out)], []);
  } finally {
    await removeOut(out);
  }
});

Deno.test("deno task sweep trains packs in one process each; every stage folder equals the variant run alone", async () => {
  if (!(await testDevice())) return;
  const out = await tempOut();
  const alone = await tempOut();
  try {
    const { plan, variants } = await tinyPlan();
    const r = await sweep([fixture("tiny_sweep.yaml"), ...SET, "--jobs", "2", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const root = join(out, "tiny_sweep");
    const packs = plan.stageRuns.filter((s) => s.stage === "finetune");
    const sweepJson = JSON.parse(await Deno.readTextFile(join(root, "sweep.json")));
    // the finetune stage runs ran as the two packs of the plan, one process each
    assert.deepEqual(sweepJson.outcome.packs, [[packs[0].id, packs[2].id], [packs[1].id, packs[3].id]]);
    for (const [i, ids] of sweepJson.outcome.packs.entries()) {
      assert.match(
        r.stderr,
        new RegExp(`^sweep: pack-${i + 1} trains ${ids.join(" ")} in one process$`, "m"),
      );
      for (const id of ids) {
        const summary = JSON.parse(await Deno.readTextFile(join(root, id, "summary.json")));
        assert.deepEqual(summary.packed, { variants: 2, with: ids.map((x: string) => join(root, x)) });
      }
    }
    const log = await Deno.readTextFile(join(root, "variants", "lr=0.01,seed=2", "log.txt"));
    assert.equal(log.split(`/src/cli/pack.ts --variant `).length - 1, 1);
    // the same variants run alone (one process, unpacked) into a fresh folder
    for (const v of variants) await runPipeline(v.spec, { out: alone, log: captureLog() });
    for (const s of plan.stageRuns) {
      const [a, b] = [join(root, s.id), join(alone, "tiny_sweep", s.id)];
      assert.deepEqual(
        await Deno.readTextFile(join(a, "spec.json")),
        await Deno.readTextFile(join(b, "spec.json")),
      );
      if (s.stage === "pretrain") {
        assert.deepEqual(
          await Deno.readFile(join(a, "weights.safetensors")),
          await Deno.readFile(join(b, "weights.safetensors")),
          s.id,
        );
        assert.deepEqual(
          await metricsWithoutTiming(join(a, "metrics.jsonl")),
          await metricsWithoutTiming(join(b, "metrics.jsonl")),
          s.id,
        );
        assert.deepEqual(
          await summaryWithoutTiming(join(a, "summary.json")),
          await summaryWithoutTiming(join(b, "summary.json")),
          s.id,
        );
        continue;
      }
      const metrics = async (dir: string) =>
        JSON.parse(await Deno.readTextFile(join(dir, "summary.json"))).metrics;
      const [ma, mb] = [await metrics(a), await metrics(b)];
      assert.deepEqual(Object.keys(ma), Object.keys(mb), s.id);
      const err = relError(Object.values(ma) as number[], Object.values(mb) as number[]);
      assert.ok(err <= 3e-6, `${s.id}: summary metrics relative error ${err}`);
      if (s.stage !== "finetune") continue;
      const wa = readWeights(await Deno.readFile(join(a, "weights.safetensors"))).weights;
      const wb = readWeights(await Deno.readFile(join(b, "weights.safetensors"))).weights;
      assert.deepEqual([...wa.keys()], [...wb.keys()], s.id);
      for (const [name, w] of wb) {
        const e = relError(wa.get(name)!, w, 1);
        assert.ok(e <= 3e-6, `${s.id} ${name}: relative error ${e}`);
      }
      const lines = async (dir: string) =>
        (await metricsWithoutTiming(join(dir, "metrics.jsonl"))).filter((m) => m.type !== "gate");
      const [la, lb] = [await lines(a), await lines(b)];
      assert.deepEqual(la.map((m) => `${m.type} ${m.step}`), lb.map((m) => `${m.type} ${m.step}`), s.id);
      const values = (ms: Record<string, unknown>[]) =>
        ms.flatMap((m) =>
          m.type === "train" ? [m.loss as number] : Object.values(m.validationLoss as object)
        );
      const e = relError(values(la), values(lb));
      assert.ok(e <= 3e-6, `${s.id}: metrics relative error ${e}`);
      await Deno.stat(join(a, "adapter", "adapter_model.safetensors"));
    }
    // the variants differ: not one run copied four times
    const losses = await Promise.all(
      packs.map(async (s) =>
        JSON.parse(await Deno.readTextFile(join(root, s.id, "summary.json"))).metrics.loss
      ),
    );
    assert.equal(new Set(losses).size, 4, `${losses}`);
    // each variant's run.json names its packed stage folder like any other
    const run = JSON.parse(await Deno.readTextFile(join(root, "variants", "lr=0.01,seed=2", "run.json")));
    assert.deepEqual(
      run.stages.map((s: { dir: string }) => s.dir),
      plan.variants[3].stages.map((id) => `../../${id}`),
    );
  } finally {
    await removeOut(out);
    await removeOut(alone);
  }
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPipelineSource } from "../src/cli/load.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { planSweep } from "../src/sweep/plan.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, fixture, removeOut, ROOT, summaryWithoutTiming, tempOut } from "./fixtures/helpers.ts";

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

Deno.test("deno task sweep --plan lists variants and unique stage runs without running anything", async () => {
  const out = await tempOut();
  try {
    const r = await sweep([fixture("tiny_sweep.yaml"), "--plan", "--json", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout);
    assert.deepEqual([plan.variants.length, plan.stageRuns.length, plan.naive, plan.saved], [4, 10, 12, 2]);
    assert.deepEqual(plan.done, []);
    assert.deepEqual([...Deno.readDirSync(out)], []);
    const text = await sweep([fixture("tiny_sweep.yaml"), "--plan", "--out", out]);
    assert.match(text.stdout, /^unique stage runs: 10 of 12 \(sharing saves 2\); 0 already done$/m);
    const none = await sweep([fixture("tiny.yaml"), "--plan"]);
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr.split("\n")[0],
      `${fixture("tiny.yaml")}: declares no sweep (add .sweep({...}) or a sweep: block)`,
    );
  } finally {
    await removeOut(out);
  }
});

Deno.test("deno task sweep runs each unique stage once, resumes a killed one, and equals single runs bit for bit", async () => {
  if (!(await testDevice())) return;
  const out = await tempOut();
  try {
    const root = join(out, "tiny_sweep");
    const { spec, sweep: declared } = await loadPipelineSource(ROOT + fixture("tiny_sweep.yaml"));
    const { plan, variants } = await planSweep(spec, declared!);
    // kill the first fine-tuning stage run's process as soon as it has claimed its folder
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "src/sweep/main.ts", fixture("tiny_sweep.yaml"), "--jobs", "2", "--out", out],
      cwd: ROOT,
      env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const killed = plan.stageRuns.find((s) => s.stage === "finetune")!;
    let pid: number | undefined;
    while (pid === undefined) {
      await new Promise((r) => setTimeout(r, 50));
      // the lock file exists (empty) before its owner writes its pid into it: not there yet
      pid = await Deno.readTextFile(join(root, killed.id, "lock")).then(ownerPid, () => undefined);
    }
    Deno.kill(pid, "SIGKILL");
    const first = await child.output();
    const stderr = new TextDecoder().decode(first.stderr);
    assert.equal(first.code, 1, stderr);
    const log = join(root, "variants", killed.variants[0], "log.txt");
    assert.match(
      stderr,
      new RegExp(`^failed: ${killed.id} \\(exit \\d+\\), log ${log.replaceAll(".", "\\.")}$`, "m"),
    );
    assert.match(
      stderr,
      new RegExp(
        `^not run \\(they need a failed stage run\\): ${
          plan.stageRuns.find((s) => s.after.includes(killed.id))!.id
        }$`,
        "m",
      ),
    );
    assert.match(stderr, /re-run with --resume to continue$/m);
    // --resume claims the killed stage again (the kernel dropped its lock) and finishes the sweep
    const r = await sweep([fixture("tiny_sweep.yaml"), "--jobs", "2", "--resume", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const folders = [...Deno.readDirSync(root)].filter((e) =>
      e.isDirectory && !["variants"].includes(e.name)
    );
    assert.deepEqual(folders.map((e) => e.name).sort(), plan.stageRuns.map((s) => s.id).sort());
    // every stage run ran exactly once (the killed one: once more after the kill), one
    // "train ->"/"evaluate ->" line for it in all the variant logs
    let logs = "";
    for (const v of plan.variants) logs += await Deno.readTextFile(join(root, "variants", v.name, "log.txt"));
    for (const s of plan.stageRuns) {
      const starts = logs.split(`${s.kind} -> ${join(root, s.id)}\n`).length - 1;
      // the killed one may have died before or after announcing its start
      if (s === killed) assert.ok(starts === 1 || starts === 2, `${s.id}: ${starts}`);
      else assert.equal(starts, 1, s.id);
    }
    // the dependants started only after the shared pretrain ended: its summary predates their spec.json
    for (const s of plan.stageRuns.filter((s) => s.after.length > 0)) {
      const before = (await Deno.stat(join(root, s.after[0], "summary.json"))).mtime!.getTime();
      const after = (await Deno.stat(join(root, s.id, "spec.json"))).mtime!.getTime();
      assert.ok(before <= after, `${s.id} started before ${s.after[0]} ended`);
    }
    // each variant's run.json names its three stage folders
    const run = JSON.parse(await Deno.readTextFile(join(root, "variants", "lr=0.01,seed=2", "run.json")));
    assert.deepEqual(
      run.stages.map((s: { dir: string }) => s.dir),
      plan.variants[3].stages.map((id) => `../../${id}`),
    );
    // sweep.json: a table per metric, rows grouped over the two seeds
    const result = JSON.parse(await Deno.readTextFile(join(root, "sweep.json")));
    const check = result.tables.find((t: { stage: string; metric: string }) =>
      t.stage === "check" && t.metric === "validation_loss/new"
    );
    assert.deepEqual(check.rows.map((row: { group: string; n: number }) => [row.group, row.n]), [[
      "lr=5e-3",
      2,
    ], ["lr=0.01", 2]]);
    assert.equal(result.incomplete.length, 0);
    const html = await Deno.readTextFile(join(root, "sweep.html"));
    assert.match(html, /<caption>check: validation_loss\/new \(lower is better; best in bold\)<\/caption>/);
    // band charts: pretrain on old, finetune on new and on few
    assert.equal(html.split("<svg").length - 1, 3);
    // the same variant run alone in a fresh folder gives the same weights and metrics, bit for bit
    const alone = await tempOut();
    try {
      const v = variants[3];
      await runPipeline(v.spec, { out: alone, log: captureLog() });
      for (const id of plan.variants[3].stages) {
        const a = join(root, id);
        const b = join(alone, "tiny_sweep", id);
        // every number but the wall time, bit for bit
        assert.deepEqual(
          await summaryWithoutTiming(join(a, "summary.json")),
          await summaryWithoutTiming(join(b, "summary.json")),
          id,
        );
        if (!id.startsWith("check")) {
          assert.deepEqual(
            await Deno.readFile(join(a, "weights.safetensors")),
            await Deno.readFile(join(b, "weights.safetensors")),
            id,
          );
        }
      }
    } finally {
      await removeOut(alone);
    }
    // a third sweep finds everything done and runs nothing
    const again = await sweep([fixture("tiny_sweep.yaml"), "--out", out]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /^sweep: 10\/10 stage runs done \(0 running, 0 failed, 0 skipped\)/);
  } finally {
    await removeOut(out);
  }
});

function ownerPid(text: string): number | undefined {
  try {
    const pid = JSON.parse(text).pid;
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

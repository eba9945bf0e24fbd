import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPipelineSource } from "../src/cli/load.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { planSweep } from "../src/sweep/plan.ts";
import { testDevice } from "./_harness.ts";
import { captureLog, fixture, removeOut, ROOT, summaryWithoutTiming, tempOut } from "./fixtures/helpers.ts";

const text = new TextDecoder();

async function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return { code: o.code, stdout: text.decode(o.stdout), stderr: text.decode(o.stderr) };
}

const sweep = (args: string[]) => run(Deno.execPath(), ["run", "-A", "src/sweep/main.ts", ...args]);

/** A one-node Slurm cluster: started with .ci/slurm_start when `sinfo` fails; in CI a missing one fails. */
async function slurm(): Promise<boolean> {
  const up = async () => (await run("sinfo", ["-h", "-o", "%T"]).catch(() => ({ code: 1, stdout: "" })));
  let s = await up();
  if (s.code !== 0 || !/idle|mixed|allocated/.test(s.stdout)) {
    const start = await run("bash", [".ci/slurm_start"]).catch((e) => ({
      code: 1,
      stdout: "",
      stderr: String(e),
    }));
    s = await up();
    if (s.code !== 0 || !/idle|mixed|allocated/.test(s.stdout)) {
      const why = `no Slurm cluster: .ci/slurm_start exited ${start.code}: ${start.stderr.trim()}`;
      if (Deno.env.get("CI") === "true") throw new Error(why);
      console.warn(`Slurm test skipped: ${why}`);
      return false;
    }
  }
  return true;
}

/** Waits until none of the jobs is pending or running. */
async function drain(jobs: string[]): Promise<void> {
  for (;;) {
    const q = await run("squeue", ["-h", "-o", "%i", "-j", jobs.join(",")]);
    if (q.stdout.trim() === "") return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

Deno.test("deno task sweep --executor slurm: one job per unique stage run, a cancelled job reported and resumed", async () => {
  if (!(await testDevice()) || !(await slurm())) return;
  const out = await tempOut();
  try {
    const file = fixture("tiny_sweep.yaml");
    const { spec, sweep: declared } = await loadPipelineSource(ROOT + file);
    const { plan, variants } = await planSweep(spec, declared!);
    const root = join(out, "tiny_sweep");

    // submit, then cancel the seed-1 pretrain job at once: Slurm cancels its dependants
    const submitted = await sweep([file, "--executor", "slurm", "--out", out]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const jobs: { id: string; job: string; after: string[] }[] = JSON.parse(
      await Deno.readTextFile(join(root, "slurm", "jobs.json")),
    );
    assert.deepEqual(jobs.map((j) => j.id), plan.stageRuns.map((r) => r.id));
    for (const j of jobs) assert.deepEqual(j.after, plan.stageRuns.find((r) => r.id === j.id)!.after);
    const cancelled = plan.stageRuns.find((r) => r.stage === "pretrain")!;
    const victim = jobs.find((j) => j.id === cancelled.id)!;
    assert.equal((await run("scancel", [victim.job])).code, 0);
    await drain(jobs.map((j) => j.job));
    const status = await sweep([file, "--executor", "slurm", "--status", "--json", "--out", out]);
    const states = Object.fromEntries(
      JSON.parse(status.stdout).map((s: { id: string; state: string }) => [s.id, s.state]),
    );
    // the cancelled chain: the pretrain and the four stage runs after it (two fine-tunes, two checks)
    const chain = plan.stageRuns.filter((r) => r.variants.some((v) => v.endsWith("seed=1")));
    for (const r of chain) assert.equal(states[r.id], "CANCELLED", `${r.id}: ${states[r.id]}`);
    for (const r of plan.stageRuns.filter((r) => !chain.includes(r))) {
      assert.equal(states[r.id], "done", r.id);
    }
    const line = (await sweep([file, "--executor", "slurm", "--status", "--out", out])).stdout;
    assert.match(
      line,
      new RegExp(
        `^${cancelled.id} +CANCELLED +${victim.job} +${join(root, "slurm", cancelled.id)}\\.log$`,
        "m",
      ),
    );

    // --resume submits only what is not done, and waits for it
    const resumed = await sweep([file, "--executor", "slurm", "--resume", "--wait", "--out", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const second: { id: string }[] = JSON.parse(await Deno.readTextFile(join(root, "slurm", "jobs.json")));
    assert.deepEqual(second.map((j) => j.id), chain.map((r) => r.id));

    // stage runs of seed 2 ran exactly once (their job logs hold one "train ->" or "evaluate ->" line)
    for (const r of plan.stageRuns.filter((r) => !chain.includes(r))) {
      const log = await Deno.readTextFile(join(root, "slurm", `${r.id}.log`));
      assert.equal(log.split(`${r.kind} -> ${join(root, r.id)}\n`).length - 1, 1, r.id);
    }
    // dependants started after the stage runs they need had finished
    for (const r of plan.stageRuns.filter((r) => r.after.length > 0)) {
      const before = (await Deno.stat(join(root, r.after[0], "summary.json"))).mtime!.getTime();
      const after = (await Deno.stat(join(root, r.id, "spec.json"))).mtime!.getTime();
      assert.ok(before <= after, `${r.id} started before ${r.after[0]} ended`);
    }
    const result = JSON.parse(await Deno.readTextFile(join(root, "sweep.json")));
    assert.deepEqual(result.incomplete, []);
    // a variant of each seed equals the same variant run alone, bit for bit (the local executor's test
    // checks the same of its own results)
    const alone = await tempOut();
    try {
      for (const i of [0, 3]) {
        await runPipeline(variants[i].spec, { out: alone, log: captureLog() });
        for (const id of plan.variants[i].stages) {
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
      }
    } finally {
      await removeOut(alone);
    }
  } finally {
    await removeOut(out);
  }
});

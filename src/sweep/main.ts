/**
 * `deno task sweep FILE [--executor local|slurm] [--out DIR] [--set PATH=VALUE]... [--steps N] [--jobs N]
 * [--pack K] [--resume] [--wait] [--plan] [--json] [--status]`: runs a pipeline's declared sweep.
 *
 * ```sh
 * deno run --allow-read --allow-write=runs --allow-env --allow-run --allow-sys jsr:@mixtune/mixtune/sweep \
 *   pipelines/cooldown.ts --plan
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { loadPipelineSource, parseSetValue, withSteps } from "../cli/load.ts";
import { table } from "../cli/format.ts";
import { PipelineError } from "../spec/problem.ts";
import { applySets } from "../spec/sweep.ts";
import { aggregateSweep } from "./aggregate.ts";
import { sweepMarkdown } from "./markdown.ts";
import { writeSweepReport } from "../report/render_sweep.ts";
import { stageRunDone, sweepFolders } from "./folders.ts";
import { formatSweepPlan } from "./format.ts";
import { recordVariants, runLocal } from "./local.ts";
import { jobScript, slurmStatus, submitSlurm, waitSlurm } from "./slurm.ts";
import type { SweepFolders } from "./folders.ts";
import type { SweepPlan } from "./plan.ts";
import { planPacks } from "./packs.ts";
import { planSweep } from "./plan.ts";
import { writeAtomic } from "../files.ts";

const USAGE =
  `usage: deno task sweep FILE [--executor local|slurm] [--out DIR] [--set PATH=VALUE]... [--steps N]
                       [--jobs N] [--pack K] [--resume] [--wait] [--plan] [--json] [--status]
  FILE       a pipeline that declares a sweep (.sweep(...) in TypeScript, sweep: in YAML)
  --executor local (default): stage runs as processes here; slurm: one sbatch job per stage run
             (runs/ must be on a filesystem the nodes share)
  --out      folder for run outputs (default runs); the sweep writes OUT/PIPELINE/sweep.json
  --set      override one spec value of every variant (VALUE read as YAML); repeatable
  --steps    run every train stage for N steps instead (a quick look)
  --jobs     stage runs at once (default 1)
  --pack     local: train up to K compatible fine-tuning stage runs (same base stage run, same shapes)
             in one process and one packed step (default 8; 1: each alone); slurm does not pack
  --resume   continue interrupted stage runs from their last checkpoint
  --wait     slurm: wait for the jobs, then write the results (otherwise: submit and return)
  --plan     print the variants and unique stage runs (slurm: and the job scripts), run nothing
  --json     with --plan or --status: one JSON object
  --status   each stage run's state (done, the Slurm job's state, not submitted) and log`;

/** Runs the CLI; returns the exit code (0 done, 1 a stage run failed, 2 invalid pipeline or usage). */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        executor: { type: "string", default: "local" },
        wait: { type: "boolean", default: false },
        out: { type: "string", default: "runs" },
        set: { type: "string", multiple: true, default: [] },
        steps: { type: "string" },
        jobs: { type: "string", default: "1" },
        pack: { type: "string", default: "8" },
        resume: { type: "boolean", default: false },
        plan: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        status: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const o = parsed.values;
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    console.error(`expected one pipeline file, found ${parsed.positionals.length}\n${USAGE}`);
    return 2;
  }
  const file = parsed.positionals[0];
  const slurm = o.executor === "slurm";
  if (o.executor !== "local" && !slurm) {
    return usage(`--executor: expected local or slurm, found ${o.executor}`);
  }
  const jobs = Number(o.jobs);
  const steps = o.steps === undefined ? undefined : Number(o.steps);
  if (!Number.isInteger(jobs) || jobs < 1) return usage(`--jobs: expected an integer >= 1, found ${o.jobs}`);
  const packLimit = Number(o.pack);
  if (!Number.isInteger(packLimit) || packLimit < 1) {
    return usage(`--pack: expected an integer >= 1, found ${o.pack}`);
  }
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1)) {
    return usage(`--steps: expected an integer >= 1, found ${o.steps}`);
  }
  let planned;
  let resources;
  try {
    const loaded = await loadPipelineSource(file);
    if (!loaded.sweep) return usage(`${file}: declares no sweep (add .sweep({...}) or a sweep: block)`);
    let base = applySets(loaded.spec, o.set, parseSetValue);
    if (steps !== undefined) base = withSteps(base, steps);
    planned = await planSweep(base, loaded.sweep);
    resources = loaded.sweep.resources;
  } catch (e) {
    console.error(e instanceof PipelineError ? e.format() : `${file}: ${(e as Error).message}`);
    return 2;
  }
  const { plan, variants } = planned;
  const folders = sweepFolders(o.out, plan.name);
  const done = new Set<string>();
  for (const r of plan.stageRuns) if (await stageRunDone(folders, r.id)) done.add(r.id);
  if (o.status) {
    const status = await slurmStatus(plan, folders);
    console.log(
      o.json ? JSON.stringify(status, null, 2) : table(
        `sweep ${plan.name}: ${
          status.filter((s) => s.state === "done").length
        }/${status.length} stage runs done`,
        ["stage run", "state", "job", "log"],
        status.map((s) => [s.id, s.state, s.job, s.log]),
      ),
    );
    return 0;
  }
  // Slurm runs every stage run as its own job; the local executor packs
  let packing;
  try {
    packing = slurm
      ? undefined
      : planPacks(plan, new Map(variants.map((v) => [v.name, v.spec])), packLimit, done);
  } catch (e) {
    console.error(
      `sweep: could not plan the packs: ${(e as Error).message.split("\n")[0]}; --pack 1 runs each alone`,
    );
    return 1;
  }
  if (o.plan) {
    if (o.json) console.log(JSON.stringify({ ...plan, done: [...done], packing }, null, 2));
    else console.log(formatSweepPlan(plan, done, packing));
    if (slurm && !o.json) {
      for (const r of plan.stageRuns.filter((r) => !done.has(r.id))) {
        console.log(`\n# ${join(folders.root, "slurm", `${r.id}.sh`)}`);
        console.log(jobScript(plan, r.id, folders, resources, o.resume).trimEnd());
      }
    }
    return 0;
  }
  for (const v of variants) {
    await Deno.mkdir(folders.variant(v.name), { recursive: true });
    await writeAtomic(folders.variantSpec(v.name), JSON.stringify(v.spec, null, 2) + "\n");
  }
  const log = (line: string) => console.error(line);
  if (slurm) {
    let jobs;
    try {
      jobs = await submitSlurm(plan, folders, { resources, resume: o.resume, log });
    } catch (e) {
      console.error(`sweep: submission failed: ${(e as Error).message}`);
      return 1;
    }
    if (!o.wait) {
      console.log(`submitted ${jobs.length} jobs; deno task sweep ${file} --executor slurm --status`);
      return 0;
    }
    await waitSlurm(jobs);
    await recordVariants(plan, folders, log);
    const failed = (await slurmStatus(plan, folders)).filter((s) => s.state !== "done");
    for (const s of failed) {
      console.error(
        `not done: ${s.id} (${s.state}${s.job ? `, job ${s.job}` : ""})${s.log ? `, log ${s.log}` : ""}`,
      );
    }
    return await writeResults(plan, folders, { executor: "slurm", jobs }, failed.length > 0);
  }
  const result = await runLocal(plan, { folders, jobs, resume: o.resume, extra: [], log }, packing!.packs);
  for (const f of result.failed) console.error(`failed: ${f.id} (exit ${f.code}), log ${f.log}`);
  if (result.skipped.length) {
    console.error(`not run (they need a failed stage run): ${result.skipped.join(", ")}`);
  }
  return await writeResults(
    plan,
    folders,
    { executor: "local", packs: packing!.packs.map((p) => p.stageRuns), ...result },
    result.failed.length > 0,
  );
}

/** sweep.json, sweep.md, sweep.html and the tables on stdout; 1 when something is not done. */
async function writeResults(
  plan: SweepPlan,
  folders: SweepFolders,
  outcome: Record<string, unknown>,
  failed: boolean,
): Promise<number> {
  const results = await aggregateSweep(plan, folders);
  const sweepJson = join(folders.root, "sweep.json");
  await writeAtomic(sweepJson, JSON.stringify({ ...plan, outcome, ...results }, null, 2) + "\n");
  const md = join(folders.root, "sweep.md");
  await writeAtomic(md, `# sweep ${plan.name}\n\n${sweepMarkdown(results)}`);
  console.log(`\n${sweepMarkdown(results)}`);
  console.log(`sweep.json: ${sweepJson}\nsweep.md: ${md}`);
  try {
    console.log(`sweep.html: ${await writeSweepReport(folders.root)}`);
  } catch (e) {
    console.error(`sweep.html not written: ${(e as Error).message}`);
  }
  if (failed || results.incomplete.length > 0) {
    console.error(`incomplete variants: ${results.incomplete.join(", ")}; re-run with --resume to continue`);
    return 1;
  }
  return 0;
}

function usage(message: string): number {
  console.error(`${message}\n${USAGE}`);
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

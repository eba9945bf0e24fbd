/**
 * The Slurm executor: one `sbatch` job per unique stage run not yet done, each after the jobs of the stage
 * runs it needs (`--dependency=afterok`, dependants of a failed job cancelled by Slurm). Job scripts are
 * written to `<root>/slurm/<stage run>.sh` so they can be read and resubmitted. Like the local executor it
 * schedules stage runs and never reaches inside them; `runs/` must be on a filesystem every node shares.
 */
import { join } from "node:path";
import { stageResources } from "../spec/_sweep_resources.ts";
import type { JobResources } from "../spec/sweep.ts";
import { stageRunArgs, stageRunDone, type SweepFolders } from "./folders.ts";
import type { SweepPlan } from "./plan.ts";
import { writeAtomic } from "../files.ts";

/** A submitted stage run. */
export interface SlurmJob {
  id: string;
  job: string;
  script: string;
  log: string;
  after: string[];
}

/** The job script of one stage run. */
export function jobScript(
  plan: SweepPlan,
  id: string,
  f: SweepFolders,
  resources: Record<string, JobResources> | undefined,
  resume: boolean,
): string {
  const run = plan.stageRuns.find((r) => r.id === id)!;
  const r = stageResources(resources, run.stage, run.kind);
  const owner = run.variants[0];
  const lines = [
    "#!/bin/bash",
    `#SBATCH --job-name=${plan.name}:${id}`,
    `#SBATCH --output=${slurmLog(f, id)}`,
    "#SBATCH --open-mode=append",
    "#SBATCH --kill-on-invalid-dep=yes",
  ];
  if (r.cpus !== undefined) lines.push(`#SBATCH --cpus-per-task=${r.cpus}`);
  if (r.memory !== undefined) lines.push(`#SBATCH --mem=${r.memory}`);
  if (r.gpus) lines.push(`#SBATCH --gpus=${r.gpus}`);
  if (r.time !== undefined) lines.push(`#SBATCH --time=${r.time}`);
  if (r.partition !== undefined) lines.push(`#SBATCH --partition=${r.partition}`);
  for (const flag of r.sbatch ?? []) lines.push(`#SBATCH ${flag}`);
  const args = [
    Deno.execPath(),
    ...stageRunArgs(f, f.cli),
    f.variantSpec(owner),
    "--stage",
    run.stage,
    "--record",
    f.variant(owner),
    ...(resume ? ["--resume"] : []),
  ];
  lines.push(
    `# stage run ${id} (${run.kind} stage "${run.stage}"), shared by: ${run.variants.join(" ")}`,
    `cd ${quote(f.repo)}`,
    'export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"',
    `echo "$(date -u +%FT%TZ) job $SLURM_JOB_ID on $(hostname): ${id}"`,
    `exec ${args.map(quote).join(" ")}`,
  );
  return lines.join("\n") + "\n";
}

/** Where a stage run's job writes its output. */
export function slurmLog(f: SweepFolders, id: string): string {
  return join(f.root, "slurm", `${id}.log`);
}

/** Writes the job scripts of every stage run not done and submits them in dependency order. */
export async function submitSlurm(
  plan: SweepPlan,
  f: SweepFolders,
  options: { resources?: Record<string, JobResources>; resume: boolean; log: (line: string) => void },
): Promise<SlurmJob[]> {
  await Deno.mkdir(join(f.root, "slurm"), { recursive: true });
  const jobs = new Map<string, SlurmJob>();
  for (const run of plan.stageRuns) {
    if (await stageRunDone(f, run.id)) continue;
    const script = join(f.root, "slurm", `${run.id}.sh`);
    await writeAtomic(script, jobScript(plan, run.id, f, options.resources, options.resume));
    const after = run.after.filter((a) => jobs.has(a));
    const dependency = after.length
      ? [`--dependency=afterok:${after.map((a) => jobs.get(a)!.job).join(":")}`]
      : [];
    const job = (await command("sbatch", ["--parsable", ...dependency, script])).split(";")[0].trim();
    if (!/^\d+$/.test(job)) throw new Error(`sbatch ${script}: expected a job id, found "${job}"`);
    jobs.set(run.id, { id: run.id, job, script, log: slurmLog(f, run.id), after });
    options.log(`submitted ${run.id} as job ${job}${after.length ? ` after ${after.join(", ")}` : ""}`);
  }
  const all = [...jobs.values()];
  await writeAtomic(join(f.root, "slurm", "jobs.json"), JSON.stringify(all, null, 2) + "\n");
  return all;
}

/** Each stage run's state: done (its summary exists), or its job's Slurm state, or not submitted. */
export async function slurmStatus(
  plan: SweepPlan,
  f: SweepFolders,
): Promise<{ id: string; state: string; job?: string; log?: string }[]> {
  let jobs: SlurmJob[] = [];
  try {
    jobs = JSON.parse(await Deno.readTextFile(join(f.root, "slurm", "jobs.json")));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const states = new Map<string, string>();
  if (jobs.length > 0) {
    const text = await command("squeue", [
      "-h",
      "-t",
      "all",
      "-o",
      "%i %T",
      "-j",
      jobs.map((j) => j.job).join(","),
    ])
      .catch(() => "");
    for (const line of text.split("\n")) {
      const [id, state] = line.trim().split(/\s+/);
      if (id) states.set(id, state);
    }
  }
  const out = [];
  for (const run of plan.stageRuns) {
    const job = jobs.find((j) => j.id === run.id);
    const done = await stageRunDone(f, run.id);
    const state = done
      ? "done"
      : job
      ? (states.get(job.job) ?? "gone from the queue, not done")
      : "to run (not submitted)";
    out.push({ id: run.id, state, job: job?.job, log: job?.log });
  }
  return out;
}

/** Waits until none of `jobs` is pending or running. */
export async function waitSlurm(jobs: SlurmJob[], poll = 2000): Promise<void> {
  if (jobs.length === 0) return;
  const ids = jobs.map((j) => j.job).join(",");
  for (;;) {
    const text = await command("squeue", ["-h", "-o", "%i", "-j", ids]).catch(() => "");
    if (text.trim() === "") return;
    await new Promise((r) => setTimeout(r, poll));
  }
}

async function command(name: string, args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(name, { args, stdin: "null" }).output();
  const text = new TextDecoder();
  if (code !== 0) throw new Error(`${name} ${args.join(" ")}: exit ${code}: ${text.decode(stderr).trim()}`);
  return text.decode(stdout);
}

function quote(s: string): string {
  return /^[A-Za-z0-9_/.,=:+@%-]+$/.test(s) ? s : `'${s.replaceAll("'", `'"'"'`)}'`;
}

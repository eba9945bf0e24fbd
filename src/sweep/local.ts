/**
 * The local executor: the unique stage runs of a sweep in dependency order, up to `jobs` at once, each
 * one process of the pipeline CLI (`--stage`); a pack of compatible train stage runs (packs.ts) is one
 * process of the pack entry (src/cli/pack.ts), which trains them in one packed step. It schedules stage
 * runs and never reaches inside them: what a stage run did is read back from its folder.
 */
import type { SweepPlan } from "./plan.ts";
import { stageRunArgs, stageRunDone, type SweepFolders } from "./folders.ts";
import type { PackPlan } from "./packs.ts";

/** How to run. */
export interface LocalOptions {
  folders: SweepFolders;
  jobs: number;
  resume: boolean;
  /** Extra pipeline CLI arguments for every stage run that runs alone (`--steps N`). */
  extra: string[];
  /** Progress lines. */
  log: (line: string) => void;
}

/** What happened to each stage run. */
export interface LocalResult {
  ran: string[];
  reused: string[];
  failed: { id: string; log: string; code: number }[];
  /** Not run because a stage run they need failed. */
  skipped: string[];
}

/**
 * Runs every stage run not already done (each pack of `packs` as one process); then records each complete
 * variant (run.json, report).
 */
export async function runLocal(
  plan: SweepPlan,
  options: LocalOptions,
  packs: readonly PackPlan[] = [],
): Promise<LocalResult> {
  const f = options.folders;
  const result: LocalResult = { ran: [], reused: [], failed: [], skipped: [] };
  const state = new Map<string, "pending" | "running" | "done" | "failed" | "skipped">();
  for (const r of plan.stageRuns) {
    const done = await stageRunDone(f, r.id);
    state.set(r.id, done ? "done" : "pending");
    if (done) result.reused.push(r.id);
  }
  // what one process runs: a pack's stage runs (they share what they start from), or one stage run
  const byId = new Map(plan.stageRuns.map((r) => [r.id, r]));
  const inPack = new Set(packs.flatMap((p) => p.stageRuns));
  const units = [
    ...packs.map((p) => ({ name: p.id, runs: p.stageRuns.map((id) => byId.get(id)!) })),
    ...plan.stageRuns.filter((r) => !inPack.has(r.id)).map((r) => ({ name: r.id, runs: [r] })),
  ];
  const total = plan.stageRuns.length;
  const started = Date.now();
  const progress = (): void => {
    const count = (s: string) => [...state.values()].filter((v) => v === s).length;
    const done = count("done");
    const elapsed = (Date.now() - started) / 1000;
    const remaining = count("pending") + count("running");
    const eta = result.ran.length > 0
      ? clock((elapsed / result.ran.length) * remaining / Math.min(options.jobs, Math.max(remaining, 1)))
      : "?";
    options.log(
      `sweep: ${done}/${total} stage runs done (${count("running")} running, ${count("failed")} failed, ` +
        `${count("skipped")} skipped), elapsed ${clock(elapsed)}, ETA ${eta}`,
    );
  };
  const running = new Map<string, Promise<void>>();
  progress();
  for (;;) {
    for (const u of units) {
      const runs = u.runs.filter((r) => state.get(r.id) === "pending");
      if (runs.length === 0 || running.has(u.name)) continue;
      // a pack's stage runs all start from the same stage run, so they are ready (or blocked) together
      const deps = runs[0].after.map((a) => state.get(a));
      if (deps.some((d) => d === "failed" || d === "skipped")) {
        for (const r of runs) {
          state.set(r.id, "skipped");
          result.skipped.push(r.id);
        }
        continue;
      }
      if (running.size >= options.jobs || deps.some((d) => d !== "done")) continue;
      for (const r of runs) state.set(r.id, "running");
      const resume = options.resume ? ["--resume"] : [];
      // every variant of the stage runs gets the process's output in its log
      const logs = [...new Set(runs.map((r) => f.variantLog(r.variants[0])))];
      const args = runs.length > 1
        ? [f.pack, ...runs.flatMap((r) => ["--variant", f.variantSpec(r.variants[0]), "--stage", r.stage])]
        : [
          f.cli,
          f.variantSpec(runs[0].variants[0]),
          "--stage",
          runs[0].stage,
          "--record",
          f.variant(runs[0].variants[0]),
          ...resume,
          ...options.extra,
        ];
      if (runs.length > 1) {
        options.log(`sweep: ${u.name} trains ${runs.map((r) => r.id).join(" ")} in one process`);
      }
      running.set(
        u.name,
        runCli(args, f, logs).catch((e) => {
          options.log(`sweep: could not start ${u.name}: ${(e as Error).message}`);
          return -1;
        }).then(
          async (code) => {
            running.delete(u.name);
            for (const r of runs) {
              // success means the process exited 0 and the stage's folder holds its summary; in a pack,
              // a summary is written only for a member that finished (another may have failed)
              if ((code === 0 || runs.length > 1) && await stageRunDone(f, r.id)) {
                state.set(r.id, "done");
                result.ran.push(r.id);
              } else {
                const log = f.variantLog(r.variants[0]);
                state.set(r.id, "failed");
                result.failed.push({ id: r.id, log, code });
                options.log(`sweep: stage run ${r.id} failed (exit ${code}); its log: ${log}`);
              }
            }
            progress();
          },
        ),
      );
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  await recordVariants(plan, f, options.log);
  return result;
}

/**
 * Writes each complete variant's run.json and report (a pipeline CLI process whose stages are all in the
 * cache, so it trains nothing).
 */
export async function recordVariants(
  plan: SweepPlan,
  f: SweepFolders,
  log: (line: string) => void,
): Promise<void> {
  for (const v of plan.variants) {
    const done = await Promise.all(v.stages.map((id) => stageRunDone(f, id)));
    if (!done.every(Boolean)) continue;
    const file = f.variantLog(v.name);
    const code = await runCli([f.cli, f.variantSpec(v.name), "--record", f.variant(v.name)], f, [file]);
    if (code !== 0) log(`sweep: recording variant ${v.name} failed (exit ${code}); its log: ${file}`);
  }
}

/**
 * One process of the pipeline CLI or the pack entry (`args[0]`), its output appended to each of `logs`;
 * returns its exit code.
 */
async function runCli(args: string[], f: SweepFolders, logs: string[]): Promise<number> {
  const files = await Promise.all(logs.map((l) => Deno.open(l, { append: true, create: true })));
  const write = async (bytes: Uint8Array) => {
    for (const file of files) await file.write(bytes);
  };
  try {
    const [entry, ...rest] = args;
    const shown = entry === f.cli ? "deno task pipeline" : `deno run ${entry}`;
    await write(new TextEncoder().encode(`\n$ ${shown} ${rest.join(" ")}\n`));
    const child = new Deno.Command(Deno.execPath(), {
      args: [...stageRunArgs(f, entry), ...rest],
      cwd: f.repo,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const copy = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
      for await (const chunk of stream) await write(chunk);
    };
    await Promise.all([copy(child.stdout), copy(child.stderr)]);
    return (await child.status).code;
  } finally {
    for (const file of files) file.close();
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

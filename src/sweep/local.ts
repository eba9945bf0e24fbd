/**
 * The local executor: the unique stage runs of a sweep in dependency order, up to `jobs` at once, each
 * one process of the pipeline CLI (`--stage`). It schedules stage runs and never reaches inside them:
 * what a stage run did is read back from its folder.
 */
import type { SweepPlan } from "./plan.ts";
import { stageRunDone, type SweepFolders } from "./folders.ts";

/** How to run. */
export interface LocalOptions {
  folders: SweepFolders;
  jobs: number;
  resume: boolean;
  /** Extra arguments for every stage run (`--steps N`). */
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

/** Runs every stage run not already done; then records each complete variant (run.json, report). */
export async function runLocal(plan: SweepPlan, options: LocalOptions): Promise<LocalResult> {
  const f = options.folders;
  const result: LocalResult = { ran: [], reused: [], failed: [], skipped: [] };
  const state = new Map<string, "pending" | "running" | "done" | "failed" | "skipped">();
  for (const r of plan.stageRuns) {
    const done = await stageRunDone(f, r.id);
    state.set(r.id, done ? "done" : "pending");
    if (done) result.reused.push(r.id);
  }
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
    for (const r of plan.stageRuns) {
      if (state.get(r.id) !== "pending") continue;
      const deps = r.after.map((a) => state.get(a));
      if (deps.some((d) => d === "failed" || d === "skipped")) {
        state.set(r.id, "skipped");
        result.skipped.push(r.id);
        continue;
      }
      if (running.size >= options.jobs || deps.some((d) => d !== "done")) continue;
      state.set(r.id, "running");
      const log = f.variantLog(r.variants[0]);
      const args = [f.variantSpec(r.variants[0]), "--stage", r.stage, "--record", f.variant(r.variants[0])];
      running.set(
        r.id,
        runCli([...args, ...options.extra, ...(options.resume ? ["--resume"] : [])], f, log).catch((e) => {
          options.log(`sweep: could not start stage run ${r.id}: ${(e as Error).message}`);
          return -1;
        }).then(
          async (code) => {
            running.delete(r.id);
            // success means the CLI exited 0 and the stage's folder holds its summary
            if (code === 0 && await stageRunDone(f, r.id)) {
              state.set(r.id, "done");
              result.ran.push(r.id);
            } else {
              state.set(r.id, "failed");
              result.failed.push({ id: r.id, log, code });
              options.log(`sweep: stage run ${r.id} failed (exit ${code}); its log: ${log}`);
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
    const code = await runCli([f.variantSpec(v.name), "--record", f.variant(v.name)], f, file);
    if (code !== 0) log(`sweep: recording variant ${v.name} failed (exit ${code}); its log: ${file}`);
  }
}

/** One pipeline CLI process, its output appended to `log`; returns its exit code. */
async function runCli(args: string[], f: SweepFolders, log: string): Promise<number> {
  const file = await Deno.open(log, { append: true, create: true });
  try {
    await file.write(new TextEncoder().encode(`\n$ deno task pipeline ${args.join(" ")}\n`));
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        `--allow-write=${f.out}`,
        "--allow-env",
        "--allow-ffi",
        "--allow-sys",
        f.cli,
        "--out",
        f.out,
        ...args,
      ],
      cwd: f.repo,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const copy = async (stream: ReadableStream<Uint8Array>): Promise<void> => {
      for await (const chunk of stream) await file.write(chunk);
    };
    await Promise.all([copy(child.stdout), copy(child.stderr)]);
    return (await child.status).code;
  } finally {
    file.close();
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

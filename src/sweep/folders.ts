/** Where a sweep's files go: `<out>/<pipeline>/` holds the shared stage folders, sweep.json and a folder per variant. */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Absolute paths of a sweep's files. */
export interface SweepFolders {
  /** The folder of all pipelines' outputs (`runs`). */
  out: string;
  /** `<out>/<pipeline>`: stage folders `<stage>-<hash8>/`, sweep.json, sweep.html, variants/. */
  root: string;
  /** The repository the pipeline CLI runs from, and the CLI's entry file. */
  repo: string;
  cli: string;
  /** The entry that trains a pack of stage runs in one process. */
  pack: string;
  variant(name: string): string;
  variantSpec(name: string): string;
  variantLog(name: string): string;
  stageRun(id: string): string;
}

/** The folders of pipeline `name`'s sweep under `out`. */
export function sweepFolders(out: string, name: string): SweepFolders {
  const abs = resolve(out);
  const root = join(abs, name);
  const repo = fileURLToPath(new URL("../../", import.meta.url));
  const variant = (v: string) => join(root, "variants", v);
  return {
    out: abs,
    root,
    repo,
    cli: join(repo, "src/cli/main.ts"),
    pack: join(repo, "src/cli/pack.ts"),
    variant,
    variantSpec: (v) => join(variant(v), "pipeline.json"),
    variantLog: (v) => join(variant(v), "log.txt"),
    stageRun: (id) => join(root, id),
  };
}

/**
 * `deno run` arguments for a sweep's own entry (`f.cli` or `f.pack`) with the permissions a stage run needs
 * (writes only under `out`) and `--out`; the local executor and the Slurm job scripts run the same line.
 */
export function stageRunArgs(f: SweepFolders, entry: string): string[] {
  return [
    "run",
    "--allow-read",
    `--allow-write=${f.out}`,
    "--allow-env",
    "--allow-ffi",
    "--allow-sys",
    entry,
    "--out",
    f.out,
  ];
}

/** Whether a stage run's folder holds its summary (written last, atomically). */
export async function stageRunDone(f: SweepFolders, id: string): Promise<boolean> {
  try {
    await Deno.stat(join(f.stageRun(id), "summary.json"));
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

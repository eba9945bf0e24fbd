/** The `resources` of a sweep: what a Slurm job asks for, per stage kind or per stage name. */
import { messages } from "./messages.ts";
import { joinPath, type Problem } from "./problem.ts";

/** What one stage run's job asks the scheduler for. */
export interface JobResources {
  /** Slurm's `--cpus-per-task`. */
  cpus?: number;
  /** Slurm's `--mem`: `4G`, `500M`. */
  memory?: string;
  /** Slurm's `--gpus`. */
  gpus?: number;
  /** Slurm's `--time`: `30`, `1:00:00`, `1-00:00:00`. */
  time?: string;
  /** Slurm's `--partition`. */
  partition?: string;
  /** Further `sbatch` flags, written as they are (`--qos=short`). */
  sbatch?: string[];
}

const KEYS = ["cpus", "memory", "gpus", "time", "partition", "sbatch"];

/** Problems of a `resources` block: keys are stage kinds or stage names. */
export function checkResources(value: unknown, stages: Record<string, { kind: string }>): Problem[] {
  const problems: Problem[] = [];
  const add = (path: string, message: string) => problems.push({ path, message });
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    add("sweep.resources", messages.expected("an object of stage kinds or names to resources", value));
    return problems;
  }
  const targets = ["train", "evaluate", "export", ...Object.keys(stages)];
  for (const [key, r] of Object.entries(value)) {
    const at = joinPath("sweep.resources", key);
    if (!targets.includes(key)) {
      add(at, messages.oneOf(targets, key));
      continue;
    }
    if (r === null || typeof r !== "object" || Array.isArray(r)) {
      add(at, messages.expected("an object of cpus, memory, gpus, time, partition, sbatch", r));
      continue;
    }
    for (const [k, v] of Object.entries(r)) {
      const p = joinPath(at, k);
      if (!KEYS.includes(k)) add(p, messages.unknownKey(k, KEYS));
      else if (
        (k === "cpus" || k === "gpus") && !(Number.isInteger(v) && (v as number) >= (k === "cpus" ? 1 : 0))
      ) {
        add(p, messages.expected(`an integer >= ${k === "cpus" ? 1 : 0}`, v));
      } else if (k === "memory" && !(typeof v === "string" && /^\d+[KMGT]?$/.test(v))) {
        add(p, messages.expected(`a size like "4G" or "500M"`, v));
      } else if (k === "time" && !(typeof v === "string" && /^(\d+-)?\d+(:\d\d){0,2}$/.test(v))) {
        add(p, messages.expected(`a Slurm time like "30", "1:00:00" or "1-00:00:00"`, v));
      } else if (k === "partition" && !(typeof v === "string" && /^[A-Za-z0-9_.-]+$/.test(v))) {
        add(p, messages.expected("a partition name", v));
      } else if (
        k === "sbatch" &&
        !(Array.isArray(v) && v.every((f) => typeof f === "string" && /^--[a-z-]+(=[^\s'"`$\\]+)?$/.test(f)))
      ) {
        add(p, messages.expected(`a list of flags like "--qos=short" (no spaces or quotes)`, v));
      }
    }
  }
  return problems;
}

/** The resources of one stage: its kind's, overridden by its name's. */
export function stageResources(
  resources: Record<string, JobResources> | undefined,
  stage: string,
  kind: string,
): JobResources {
  return { ...resources?.[kind], ...resources?.[stage] };
}

/**
 * `deno task pipeline [FILE] [--out DIR] [--steps N] [--seed N] [--set PATH=VALUE]... [--stage NAME]
 * [--record DIR] [--resume] [--plan] [--json]`
 */
import { parseArgs } from "node:util";
import { planPipeline } from "../compile/pipeline_plan.ts";
import { PipelineError } from "../spec/problem.ts";
import { consoleLogger } from "../run/log.ts";
import { runPipeline } from "../run/pipeline.ts";
import { writeReport } from "../report/mod.ts";
import { formatPlan, table } from "./format.ts";
import { loadPipelineFile, parseSetValue, withSteps } from "./load.ts";
import { applySets } from "../spec/sweep.ts";

const USAGE =
  `usage: deno task pipeline [FILE] [--out DIR] [--steps N] [--seed N] [--set PATH=VALUE]... [--stage NAME]
                          [--record DIR] [--resume] [--plan] [--json]
  FILE       a pipeline (.ts default export, .yaml or .json); default pipelines/quickstart.ts
  --out      folder for run outputs (default runs)
  --steps    run every train stage for N steps instead (a quick look)
  --seed     override the pipeline's seed
  --set      override one spec value (VALUE read as YAML), validated in place; repeatable
  --stage    run only this stage and the stages it needs
  --record   folder for run.json and report.html (default OUT/PIPELINE)
  --resume   continue interrupted stages from their last checkpoint
  --plan     validate and compile, print the plan, train nothing
  --json     with --plan: print the plan as one JSON object`;

/** Runs the CLI; returns the exit code (0 done, 1 failed while running, 2 invalid pipeline or usage). */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        out: { type: "string", default: "runs" },
        steps: { type: "string" },
        seed: { type: "string" },
        stage: { type: "string" },
        set: { type: "string", multiple: true, default: [] },
        record: { type: "string" },
        resume: { type: "boolean", default: false },
        plan: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
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
  if (parsed.positionals.length > 1) {
    console.error(`expected at most one pipeline file, found ${parsed.positionals.length}\n${USAGE}`);
    return 2;
  }
  const count = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      throw new UsageError(`--${name}: expected an integer >= ${min}, found ${v}`);
    }
    return n;
  };
  const file = parsed.positionals[0] ?? "pipelines/quickstart.ts";
  let spec;
  try {
    const steps = count("steps", o.steps, 1);
    const seed = count("seed", o.seed, 0);
    const loaded = await loadPipelineFile(file);
    spec = applySets(loaded.spec, o.set, parseSetValue);
    if (loaded.sweep && !o.plan) {
      console.error(`${file} declares a sweep; this runs its base pipeline (deno task sweep runs the sweep)`);
    }
    if (steps !== undefined) spec = withSteps(spec, steps);
    if (seed !== undefined) spec = { ...spec, seed };
    if (o.stage !== undefined && !(o.stage in spec.stages)) {
      throw new UsageError(
        `--stage: no stage named "${o.stage}"; stages: ${Object.keys(spec.stages).join(", ")}`,
      );
    }
  } catch (e) {
    if (e instanceof PipelineError) console.error(e.format());
    else if (e instanceof UsageError) console.error(e.message);
    else console.error(`${file}: ${(e as Error).message}`);
    return 2;
  }
  const log = consoleLogger(o.plan && o.json);
  let plan;
  try {
    plan = await planPipeline(spec);
  } catch (e) {
    console.error(`${file}: ${(e as Error).message}`);
    return (e instanceof PipelineError) ? 2 : 1;
  }
  if (o.plan) {
    console.log(o.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
    return 0;
  }
  const root = o.record ?? `${o.out}/${spec.name}`;
  try {
    const result = await runPipeline(spec, {
      out: o.out,
      resume: o.resume,
      stage: o.stage,
      log,
      plan,
      record: o.record,
    });
    try {
      log.line(`report: ${await writeReport(root)}`);
    } catch (e) {
      log.line(`report not written: ${(e as Error).message}`);
    }
    for (const s of result.stages) {
      const tables = (s.summary.tables ?? []) as { title: string; columns: string[]; rows: unknown[][] }[];
      for (const t of tables) console.log("\n" + table(t.title, t.columns, t.rows));
    }
    return 0;
  } catch (e) {
    console.error(`${(e as Error).name === "StageFailure" ? "" : "run failed: "}${(e as Error).message}`);
    console.error(`partial results are in ${root}`);
    return 1;
  }
}

class UsageError extends Error {}

if (import.meta.main) Deno.exit(await main(Deno.args));

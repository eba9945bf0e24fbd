/**
 * The pipeline CLI: validates a pipeline file, plans it (`--plan`) or runs it, writing
 * `<out>/<pipeline>/` and its `report.html`. Exit codes: 0 done, 2 invalid pipeline or usage, 1 a failure
 * while running.
 *
 * ```sh
 * deno run --allow-read --allow-write=runs --allow-env --allow-ffi --allow-sys jsr:@mixtune/mixtune/cli \
 *   [FILE] [--out DIR] [--steps N] [--seed N] [--set PATH=VALUE]... [--stage NAME] [--record DIR] \
 *   [--resume] [--plan] [--json] [--limits NAME|FILE]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { planPipeline } from "../compile/pipeline_plan.ts";
import { tokenCacheDir } from "../compile/domains.ts";
import { COUNT } from "../spec/_checker.ts";
import { locateProblems, SEED } from "../spec/validate.ts";
import { PipelineError } from "../spec/problem.ts";
import { DataError, MixError } from "../data/errors.ts";
import { firstLine } from "./_thrown.ts";
import { flagNumber, overrideError, UsageError, writeDenied } from "./_flags.ts";
import { consoleLogger } from "../run/log.ts";
import { ReportFailure, runPipeline } from "../run/pipeline.ts";
import { StageFailure } from "../run/train.ts";
import { formatPlan, table } from "./format.ts";
import { limitsFlag } from "./_limits.ts";
import { deviceLimits, LIMIT_NAMES, limitsInUse, type PlanLimits } from "../compile/limits.ts";
import { quote } from "../spec/messages.ts";
import { loadPipelineSource, parseSetValue, withSteps } from "./load.ts";
import { applySets } from "../spec/sweep.ts";
import { validatePipeline } from "../spec/validate.ts";

const USAGE =
  `usage: deno task pipeline [FILE] [--out DIR] [--steps N] [--seed N] [--set PATH=VALUE]... [--stage NAME]
                          [--record DIR] [--resume] [--plan] [--json] [--limits NAME|FILE]
  FILE       a pipeline (.ts default export, .yaml or .json); default pipelines/quickstart.ts
  --out      folder for run outputs (default runs)
  --steps    run every train stage for N steps instead (a quick look)
  --seed     override the pipeline's seed
  --set      override one spec value (VALUE read as YAML), validated in place; repeatable
  --stage    run only this stage and the stages it needs
  --record   folder for run.json and report.html (default OUT/PIPELINE)
  --resume   continue interrupted stages from their last checkpoint
  --plan     validate and compile, print the plan, train nothing
  --json     with --plan: print the plan as one JSON object
  --limits   plan against these device limits instead of this machine's adapter: webgpu-default,
             device, or a JSON file of WebGPU limits (maxStorageBufferBindingSize, maxBufferSize,
             maxComputeWorkgroupsPerDimension); a run on a device with less fails with exit 1`;

/**
 * Runs the CLI on `args`; returns the exit code (0 done, 1 failed while running, 2 invalid pipeline or usage).
 *
 * @example
 * ```ts
 * const code = await main(["--help"]); // prints the usage
 * console.log(code); // 0
 * ```
 */
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
        resume: { type: "boolean", default: false },
        set: { type: "string", multiple: true, default: [] },
        record: { type: "string" },
        plan: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        limits: { type: "string" },
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
  const file = parsed.positionals[0] ?? "pipelines/quickstart.ts";
  let spec;
  let locations;
  let limits: PlanLimits | undefined;
  try {
    const steps = flagNumber("steps", o.steps, COUNT);
    const seed = flagNumber("seed", o.seed, SEED);
    const loaded = await loadPipelineSource(file);
    locations = loaded.locations;
    spec = applySets(loaded.spec, o.set, parseSetValue);
    if (loaded.sweep && !o.plan) {
      console.error(`${file} declares a sweep; this runs its base pipeline (deno task sweep runs the sweep)`);
    }
    if (steps !== undefined || seed !== undefined) {
      if (steps !== undefined) spec = withSteps(spec, steps);
      if (seed !== undefined) spec = { ...spec, seed };
      try {
        spec = validatePipeline(spec);
      } catch (e) {
        throw overrideError(e, steps !== undefined ? "--steps" : "--seed");
      }
    }
    if (o.stage !== undefined && !Object.hasOwn(spec.stages, o.stage)) {
      throw new UsageError(
        `--stage: no stage named ${quote(o.stage)}; stages: ${Object.keys(spec.stages).join(", ")}`,
      );
    }
    const denied = o.plan ? undefined : await writeDenied(o.out, args);
    if (denied !== undefined) throw new UsageError(denied);
    if (o.limits !== undefined) limits = await limitsFlag(o.limits);
  } catch (e) {
    if (e instanceof PipelineError) console.error(e.format());
    else if (e instanceof UsageError) console.error(e.message);
    else console.error(`${file}: ${firstLine(e)}`);
    return 2;
  }
  const log = consoleLogger(o.plan && o.json);
  let plan;
  try {
    plan = await planPipeline(spec, {
      tokens: tokenCacheDir(o.out),
      log: (l) => log.line(l),
      limits: limits ?? await limitsInUse(),
    });
  } catch (e) {
    if (e instanceof PipelineError) {
      const problems = locations ? locateProblems(e.problems, locations) : e.problems;
      console.error(new PipelineError(problems, file).format());
      return 2;
    }
    // a data file that is there but unusable is bad input too; it names the file (and line)
    console.error(`${file}: ${firstLine(e)}`);
    return e instanceof DataError || e instanceof MixError ? 2 : 1;
  }
  if (o.plan) {
    console.log(o.json ? JSON.stringify(plan, null, 2) : formatPlan(plan));
    return 0;
  }
  if (limits !== undefined) {
    const beyond = await beyondDevice(limits);
    if (beyond) console.error(`--limits ${o.limits}: ${beyond}; a stage that needs more fails with exit 1`);
  }
  const root = `${o.out}/${spec.name}`;
  // Ctrl-C: every file in the run folder is complete (atomic writes), so say where it is and how to go on
  const interrupted = () => {
    log.line(`interrupted: partial results are in ${root}; run the same command with --resume to continue`);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  try {
    const result = await runPipeline(spec, {
      out: o.out,
      resume: o.resume,
      stage: o.stage,
      log,
      plan,
      record: o.record,
    });
    for (const s of result.stages) {
      const tables = (s.summary.tables ?? []) as { title: string; columns: string[]; rows: unknown[][] }[];
      for (const t of tables) console.log("\n" + table(t.title, t.columns, t.rows));
    }
    return 0;
  } catch (e) {
    if (e instanceof PipelineError) {
      // a folder a stage starts from does not fit the stage: bad input, found before any stage ran
      console.error(e.format(file));
      return 2;
    }
    if (e instanceof ReportFailure) {
      console.error(e.message);
      console.error(`the stages' results are in ${root}`);
      return 1;
    }
    console.error(`${e instanceof StageFailure ? "" : "run failed: "}${(e as Error).message}`);
    console.error(`partial results are in ${root}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupted);
  }
}

/** Which of `limits` this machine's adapter does not offer, or undefined. */
async function beyondDevice(limits: PlanLimits): Promise<string | undefined> {
  const device = await deviceLimits();
  if (!device) return undefined;
  const over = LIMIT_NAMES.filter((k) => limits[k] > device[k]);
  if (over.length === 0) return undefined;
  return `planned for more than this device offers (${
    over.map((k) => `${k} ${limits[k]} > ${device[k]}`).join(", ")
  })`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Runs a pipeline's stage graph: each stage in dependency order, cached by the hash of everything it
 * depends on, writing under `<out>/<pipeline>/<stage>-<hash8>/`.
 */
import {
  evaluatedDomains,
  type PipelinePlan,
  planForwardStage,
  planPipeline,
} from "../compile/pipeline_plan.ts";
import { limitsInUse, type PlanLimits } from "../compile/limits.ts";
import { gpu } from "../gpu/device.ts";
import { checkDevice, GpuError } from "../gpu/errors.ts";
import { stageHash, stageOrder } from "../spec/hash.ts";
import type { PipelineSpec, StageSpec } from "../spec/types.ts";
import { hashSpec } from "../spec/hash.ts";
import { fromStage } from "../spec/start_folder.ts";
import { VERSION } from "../version.ts";
import { writeReport } from "../report/write_report.ts";
import { readWeights } from "./checkpoint.ts";
import { checkDomainTokenizers, DomainCache, tokenCacheDir } from "../compile/domains.ts";
import { claimStage } from "./claim.ts";
import { relative, resolve } from "node:path";
import { runEvaluate } from "./evaluate.ts";
import { runExport } from "./export_stage.ts";
import { exists, parseJson, removeTemporary, writeJson } from "../files.ts";
import { notFiniteMetric } from "./finite.ts";
import type { Logger } from "./log.ts";
import { runTrain, StageFailure } from "./train.ts";
import { loadStartFolder, type StartWeights } from "./start_folder.ts";

/** How to run. */
export interface RunOptions {
  /** Folder that holds a folder per pipeline (default `runs`). */
  out: string;
  /** Continue interrupted stages from their last checkpoint. */
  resume?: boolean;
  /** Run only this stage (and what it needs that is not cached). */
  stage?: string;
  /** Where progress and stage lines go (see `consoleLogger`). */
  log: Logger;
  /** The plan to store in run.json and run by (default: `planPipeline(spec, limits)`, as the CLI does). */
  plan?: PipelinePlan;
  /** The device limits to plan against when no plan is given (default: the adapter's, see `limitsInUse`). */
  limits?: PlanLimits;
  /** Folder for run.json and report.html (default `<out>/<pipeline>`); a sweep gives each variant its own. */
  record?: string;
}

/** One stage's outcome, as listed in `run.json` (plus its summary). */
export interface StageRecord {
  /** The stage's name in the pipeline. */
  name: string;
  /** What the stage does. */
  kind: StageSpec["kind"];
  /** The stage's folder, `<stage>-<hash8>`, relative to the pipeline folder (`RunResult.root`), as in run.json. */
  dir: string;
  /** The stage's folder as an absolute path: what a script passes on (`mergeStage(record.path)`). */
  path: string;
  /** Whether an earlier run's results were reused. */
  cached: boolean;
  /** The stages this one starts from. */
  dependsOn: string[];
  /** Wall time this run spent on the stage (reading it back when cached), in seconds. */
  seconds: number;
  /** The stage's `summary.json`. */
  summary: Record<string, unknown>;
}

/** What a run produced. */
export interface RunResult {
  /** The pipeline's name. */
  name: string;
  /** The hash of the whole spec. */
  hash: string;
  /** The pipeline folder, `<out>/<pipeline>`, holding `run.json`, `report.html` and one folder per stage. */
  root: string;
  /** The stages that ran or were reused, in the order they ran. */
  stages: StageRecord[];
  /** The report written to the pipeline folder (a report that cannot be written fails the run). */
  report: string;
}

/**
 * Runs (or reuses) every stage, then writes `report.html`; throws on the first failure, leaving what was
 * written in place. The CLI runs exactly this.
 *
 * @example
 * ```ts ignore
 * import { consoleLogger, runPipeline, stageOf } from "./mod.ts";
 * import spec from "./pipelines/quickstart.ts";
 * const result = await runPipeline(spec, { out: "runs", log: consoleLogger() });
 * console.log(stageOf(result, "pretrain").path); // /home/me/project/runs/quickstart/pretrain-<hash8>
 * ```
 */
export async function runPipeline(spec: PipelineSpec, options: RunOptions): Promise<RunResult> {
  const root = `${options.out}/${spec.name}`;
  const record = options.record ?? root;
  await Deno.mkdir(record, { recursive: true });
  // run.json or report.html half-written by a killed run (stage folders are cleaned by their claim's owner)
  await removeTemporary(record, 1);
  const order = stageOrder(spec);
  const wanted = options.stage ? needed(spec, options.stage) : new Set(order.map((s) => s.name));
  const domains = new DomainCache(spec, {
    tokens: tokenCacheDir(options.out),
    log: (l) => options.log.line(l),
  });
  const weights = new Map<string, Map<string, Float32Array>>();
  const records: StageRecord[] = [];
  const hash = await hashSpec(spec);
  // tokenizers and start folders are read and checked before any stage runs, so a bad one costs no training
  checkDomainTokenizers(spec);
  const starts = new Map<string, StartWeights>();
  for (const [name, stage] of Object.entries(spec.stages)) {
    if (stage.kind === "train" && typeof stage.from === "object" && wanted.has(name)) {
      starts.set(name, await loadStartFolder(spec, name, stage, stage.from));
    }
  }
  const started = performance.now();
  // a report left by an earlier run would describe results this run may not reach
  await removeFile(`${record}/report.html`);
  const plan = options.plan ??
    await planPipeline(spec, {
      tokens: tokenCacheDir(options.out),
      limits: options.limits ?? await limitsInUse(),
    });
  // evaluate and export stages run at the batch their plan fitted to the limits
  const forwardBatch = async (name: string): Promise<number> => {
    const planned = plan.stages.find((s) => s.name === name)?.forward?.batch;
    if (planned !== undefined) return planned;
    const stage = spec.stages[name];
    if (stage.kind === "train") throw new Error(`stage ${name} is a train stage`);
    if (stage.kind === "evaluate") await domains.load(evaluatedDomains(spec, stage));
    return planForwardStage(spec, name, stage, domains, plan.limits)?.batch ?? 1;
  };
  const writeRun = () =>
    writeJson(`${record}/run.json`, {
      name: spec.name,
      hash,
      seed: spec.seed,
      version: VERSION,
      seconds: seconds(started),
      stages: records.map(({ summary: _, path, ...r }) => ({ ...r, dir: relative(record, path) })),
      plan,
    });
  for (const step of order) {
    if (!wanted.has(step.name)) continue;
    const stage = spec.stages[step.name];
    const h = await stageHash(spec, step.name, VERSION);
    const folder = `${step.name}-${h.slice(0, 8)}`;
    const dir = `${root}/${folder}`;
    const done = `${dir}/summary.json`;
    const stageStart = performance.now();
    let summary: Record<string, unknown>;
    let cached = false;
    let release: (() => Promise<void>) | undefined;
    if (!(await exists(done))) {
      // one process per stage folder (sweeps run stages side by side); another may have just finished it
      release = await claimStage(dir);
      if (await exists(done)) await release();
      // what a killed run of this stage left half-written; only the claim's owner may touch it
      else await removeTemporary(dir);
    }
    if (await exists(done)) {
      cached = true;
      summary = parseJson(await Deno.readTextFile(done), done);
      options.log.line(`${step.name}: unchanged since a previous run, reusing ${dir}`);
      if (stage.kind === "train") {
        const file = `${dir}/weights.safetensors`;
        const w = readWeights(await Deno.readFile(file)).weights;
        const bad = [...w].find(([, v]) => !v.every(Number.isFinite));
        if (bad) {
          throw new StageFailure(
            `stage ${step.name}: ${bad[0]} in ${file} is not finite; delete ${dir} to train the stage again`,
          );
        }
        weights.set(step.name, w);
      }
    } else {
      try {
        await Deno.mkdir(dir, { recursive: true });
        await domains.load();
        await writeJson(`${dir}/spec.json`, {
          pipeline: spec.name,
          seed: spec.seed,
          stage: step.name,
          spec: stage,
          model: spec.model,
        });
        const device = (await gpu()).device;
        options.log.line(`${step.name}: ${stage.kind} -> ${dir}`);
        if (stage.kind === "train") {
          const r = await runTrain({
            device,
            spec,
            name: step.name,
            stage,
            dir,
            domains,
            start: typeof stage.from === "string" ? weights.get(stage.from) : starts.get(step.name)?.base,
            startLora: starts.get(step.name)?.lora,
            resume: options.resume ?? false,
            log: options.log,
          });
          weights.set(step.name, r.weights);
          summary = r.summary;
        } else if (stage.kind === "evaluate") {
          summary = await runEvaluate({
            device,
            spec,
            name: step.name,
            stage,
            domains,
            weights: weights.get(stage.from)!,
            batch: await forwardBatch(step.name),
          });
        } else {
          summary = await runExport({
            device,
            spec,
            name: step.name,
            stage,
            dir,
            domains,
            weights: weights.get(stage.from)!,
            batch: await forwardBatch(step.name),
          });
        }
        // an error after the stage's last read (every read checks too) still fails it
        await checkDevice(device);
        const bad = notFiniteMetric(summary);
        if (bad) throw new StageFailure(`stage ${step.name}: ${bad}; its summary is not written in ${dir}`);
        // a resumed training stage counts the time before its checkpoint too
        const took = (typeof summary.wallSeconds === "number" ? summary.wallSeconds : 0) +
          seconds(stageStart);
        summary = { ...summary, wallSeconds: round(took) };
        await writeJson(done, summary);
        options.log.line(`${step.name}: done in ${round(took)} s`);
      } catch (e) {
        if (e instanceof GpuError) {
          throw new StageFailure(
            `stage ${step.name} (${stage.kind}): ${e.message}; its summary is not written`,
          );
        }
        throw e;
      } finally {
        await release?.();
      }
    }
    records.push({
      name: step.name,
      kind: stage.kind,
      dir: folder,
      path: resolve(dir),
      cached,
      dependsOn: step.dependsOn,
      seconds: seconds(stageStart),
      summary,
    });
    await writeRun();
  }
  let report: string;
  try {
    report = await writeReport(record);
  } catch (e) {
    // every stage finished, but a run without its report is not done
    throw new ReportFailure(`report not written: ${(e as Error).message}`);
  }
  options.log.line(`report: ${report}`);
  return { name: spec.name, hash, root, stages: records, report };
}

/**
 * The record of stage `name` in a run's result; throws a RangeError naming the stages the run has.
 *
 * @example
 * ```ts ignore
 * const result = await runPipeline(spec, { out: "runs", log: consoleLogger() });
 * const merged = await mergeStage(stageOf(result, "pretrain").path); // an absolute path: usable as is
 * ```
 */
export function stageOf(result: RunResult, name: string): StageRecord {
  const found = result.stages.find((s) => s.name === name);
  if (found) return found;
  const have = result.stages.map((s) => s.name).join(", ") || "none";
  throw new RangeError(
    `pipeline ${result.name} ran no stage named ${JSON.stringify(name)} (stages: ${have})`,
  );
}

/** A run whose stages all finished but whose report could not be written: not done, and not a stage's fault. */
export class ReportFailure extends StageFailure {
  override name = "ReportFailure";
}

async function removeFile(path: string): Promise<void> {
  try {
    if ((await Deno.stat(path)).isFile) await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function seconds(since: number): number {
  return round((performance.now() - since) / 1000);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** `stage` and every stage it depends on. */
function needed(spec: PipelineSpec, stage: string): Set<string> {
  // own keys only: "constructor" is no stage even though every object answers to it
  if (!Object.hasOwn(spec.stages, stage)) {
    throw new RangeError(
      `no stage named ${JSON.stringify(stage)}; stages: ${Object.keys(spec.stages).join(", ")}`,
    );
  }
  const out = new Set<string>();
  for (let s: string | undefined = stage; s !== undefined; s = fromStage(spec.stages[s])) out.add(s);
  return out;
}

/**
 * Runs a pipeline's stage graph: each stage in dependency order, cached by the hash of everything it
 * depends on, writing under `<out>/<pipeline>/<stage>-<hash8>/`.
 */
import { type PipelinePlan, planPipeline } from "../compile/pipeline_plan.ts";
import { gpu } from "../gpu/device.ts";
import { stageHash, stageOrder } from "../spec/hash.ts";
import type { PipelineSpec, StageSpec } from "../spec/types.ts";
import { hashSpec } from "../spec/hash.ts";
import { VERSION } from "../version.ts";
import { writeReport } from "../report/write_report.ts";
import { readWeights } from "./checkpoint.ts";
import { DomainCache } from "./domains.ts";
import { runEvaluate } from "./evaluate.ts";
import { runExport } from "./export_stage.ts";
import { exists, writeJson } from "./files.ts";
import type { Logger } from "./log.ts";
import { runTrain } from "./train.ts";

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
  /** The plan to store in run.json (default: `planPipeline(spec)`, as the CLI does). */
  plan?: PipelinePlan;
}

/** One stage's outcome, as listed in `run.json` (plus its summary). */
export interface StageRecord {
  /** The stage's name in the pipeline. */
  name: string;
  /** What the stage does. */
  kind: StageSpec["kind"];
  /** The stage's folder, `<stage>-<hash8>`, relative to the pipeline folder (`RunResult.root`). */
  dir: string;
  /** Whether an earlier run's results were reused. */
  cached: boolean;
  /** The stages this one starts from. */
  dependsOn: string[];
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
  /** The report written to the pipeline folder, or undefined when it could not be written (logged why). */
  report?: string;
}

/**
 * Runs (or reuses) every stage, then writes `report.html`; throws on the first failure, leaving what was
 * written in place. The CLI runs exactly this.
 *
 * @example
 * ```ts ignore
 * import { consoleLogger, runPipeline } from "./mod.ts";
 * import spec from "./pipelines/quickstart.ts";
 * const result = await runPipeline(spec, { out: "runs", log: consoleLogger() });
 * console.log(`${result.root}/${result.stages[0].dir}`); // runs/quickstart/pretrain-<hash8>
 * ```
 */
export async function runPipeline(spec: PipelineSpec, options: RunOptions): Promise<RunResult> {
  const root = `${options.out}/${spec.name}`;
  await Deno.mkdir(root, { recursive: true });
  const order = stageOrder(spec);
  const wanted = options.stage ? needed(spec, options.stage) : new Set(order.map((s) => s.name));
  const domains = new DomainCache(spec);
  const weights = new Map<string, Map<string, Float32Array>>();
  const records: StageRecord[] = [];
  const hash = await hashSpec(spec);
  const plan = options.plan ?? await planPipeline(spec);
  const writeRun = () =>
    writeJson(`${root}/run.json`, {
      name: spec.name,
      hash,
      seed: spec.seed,
      version: VERSION,
      stages: records.map(({ summary: _, ...r }) => r),
      plan,
    });
  for (const step of order) {
    if (!wanted.has(step.name)) continue;
    const stage = spec.stages[step.name];
    const h = await stageHash(spec, step.name, VERSION);
    const folder = `${step.name}-${h.slice(0, 8)}`;
    const dir = `${root}/${folder}`;
    const done = `${dir}/summary.json`;
    let summary: Record<string, unknown>;
    let cached = false;
    if (await exists(done)) {
      cached = true;
      summary = JSON.parse(await Deno.readTextFile(done));
      options.log.line(`${step.name}: unchanged since a previous run, reusing ${dir}`);
      if (stage.kind === "train") {
        weights.set(step.name, readWeights(await Deno.readFile(`${dir}/weights.safetensors`)).weights);
      }
    } else {
      await Deno.mkdir(dir, { recursive: true });
      await domains.load();
      await writeJson(`${dir}/spec.json`, {
        pipeline: spec.name,
        seed: spec.seed,
        stage: step.name,
        spec: stage,
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
          start: stage.from ? weights.get(stage.from) : undefined,
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
        });
      }
      await writeJson(done, summary);
    }
    records.push({
      name: step.name,
      kind: stage.kind,
      dir: folder,
      cached,
      dependsOn: step.dependsOn,
      summary,
    });
    await writeRun();
  }
  let report: string | undefined;
  try {
    report = await writeReport(root);
    options.log.line(`report: ${report}`);
  } catch (e) {
    options.log.line(`report not written: ${(e as Error).message}`);
  }
  return { name: spec.name, hash, root, stages: records, report };
}

/** `stage` and every stage it depends on. */
function needed(spec: PipelineSpec, stage: string): Set<string> {
  const out = new Set<string>();
  for (let s: string | undefined = stage; s !== undefined; s = spec.stages[s]?.from) out.add(s);
  return out;
}

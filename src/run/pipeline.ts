/**
 * Runs a pipeline's stage graph: each stage in dependency order, cached by the hash of everything it
 * depends on, writing under `<out>/<pipeline>/<stage>-<hash8>/`.
 */
import { gpu } from "../gpu/device.ts";
import { stageHash, stageOrder } from "../spec/hash.ts";
import type { PipelineSpec, StageSpec } from "../spec/types.ts";
import { hashSpec } from "../spec/hash.ts";
import { VERSION } from "../version.ts";
import { readWeights } from "./checkpoint.ts";
import { DomainCache } from "../compile/domains.ts";
import { runEvaluate } from "./evaluate.ts";
import { runExport } from "./export_stage.ts";
import { relative } from "node:path";
import { claimStage } from "./claim.ts";
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
  log: Logger;
  /** A plan object to store in run.json (see `planPipeline`). */
  plan?: unknown;
  /** Folder for run.json (default `<out>/<pipeline>`); a sweep gives each variant its own. */
  record?: string;
}

/** One stage's outcome. */
export interface StageRecord {
  name: string;
  kind: StageSpec["kind"];
  dir: string;
  cached: boolean;
  dependsOn: string[];
  summary: Record<string, unknown>;
}

/** What a run produced. */
export interface RunResult {
  name: string;
  hash: string;
  root: string;
  stages: StageRecord[];
}

/** Runs (or reuses) every stage; throws on the first failure, leaving what was written in place. */
export async function runPipeline(spec: PipelineSpec, options: RunOptions): Promise<RunResult> {
  const root = `${options.out}/${spec.name}`;
  await Deno.mkdir(root, { recursive: true });
  const order = stageOrder(spec);
  const wanted = options.stage ? needed(spec, options.stage) : new Set(order.map((s) => s.name));
  const domains = new DomainCache(spec);
  const weights = new Map<string, Map<string, Float32Array>>();
  const records: StageRecord[] = [];
  const hash = await hashSpec(spec);
  const record = options.record ?? root;
  await Deno.mkdir(record, { recursive: true });
  const writeRun = () =>
    writeJson(`${record}/run.json`, {
      name: spec.name,
      hash,
      seed: spec.seed,
      version: VERSION,
      stages: records.map(({ summary: _, ...r }) => ({ ...r, dir: relative(record, r.dir) })),
      plan: options.plan,
    });
  for (const step of order) {
    if (!wanted.has(step.name)) continue;
    const stage = spec.stages[step.name];
    const h = await stageHash(spec, step.name, VERSION);
    const dir = `${root}/${step.name}-${h.slice(0, 8)}`;
    const done = `${dir}/summary.json`;
    let summary: Record<string, unknown>;
    let cached = false;
    let release: (() => Promise<void>) | undefined;
    if (!(await exists(done))) {
      release = await claimStage(dir);
      // another process may have finished it while this one waited for the claim
      if (await exists(done)) await release();
    }
    if (await exists(done)) {
      cached = true;
      summary = JSON.parse(await Deno.readTextFile(done));
      options.log.line(`${step.name}: unchanged since a previous run, reusing ${dir}`);
      if (stage.kind === "train") {
        weights.set(step.name, readWeights(await Deno.readFile(`${dir}/weights.safetensors`)).weights);
      }
    } else {
      try {
        summary = await runStage(dir, step.name);
      } finally {
        await release?.();
      }
    }
    records.push({ name: step.name, kind: stage.kind, dir, cached, dependsOn: step.dependsOn, summary });
    await writeRun();
  }
  return { name: spec.name, hash, root, stages: records };

  async function runStage(dir: string, name: string): Promise<Record<string, unknown>> {
    const stage = spec.stages[name];
    const done = `${dir}/summary.json`;
    let summary: Record<string, unknown>;
    await Deno.mkdir(dir, { recursive: true });
    await writeJson(`${dir}/spec.json`, {
      pipeline: spec.name,
      seed: spec.seed,
      stage: name,
      spec: stage,
    });
    const device = (await gpu()).device;
    options.log.line(`${name}: ${stage.kind} -> ${dir}`);
    if (stage.kind === "train") {
      const r = await runTrain({
        device,
        spec,
        name,
        stage,
        dir,
        domains,
        start: stage.from ? weights.get(stage.from) : undefined,
        resume: options.resume ?? false,
        log: options.log,
      });
      weights.set(name, r.weights);
      summary = r.summary;
    } else if (stage.kind === "evaluate") {
      summary = await runEvaluate({
        device,
        spec,
        name,
        stage,
        domains,
        weights: weights.get(stage.from)!,
      });
    } else {
      summary = await runExport({
        device,
        spec,
        name,
        stage,
        dir,
        domains,
        weights: weights.get(stage.from)!,
      });
    }
    await writeJson(done, summary);
    return summary;
  }
}

/** `stage` and every stage it depends on. */
function needed(spec: PipelineSpec, stage: string): Set<string> {
  const out = new Set<string>();
  for (let s: string | undefined = stage; s !== undefined; s = spec.stages[s]?.from) out.add(s);
  return out;
}

/**
 * Runs one training stage in a run folder: the loop of train_loop.ts, with its metric lines appended to
 * metrics.jsonl, its checkpoints written beside them (and resumed from exactly), and the final weights,
 * adapter and summary written at the end.
 */
import { type Placement, saveAdapterFolder } from "../adapters/mod.ts";
import { pretrainedVit } from "../models/config.ts";
import type { PipelineSpec, TrainStage } from "../spec/types.ts";
import {
  lastCheckpoint,
  loadCheckpoint,
  removeCheckpoints,
  saveCheckpoint,
  weightsFile,
} from "./checkpoint.ts";
import type { DomainCache } from "../compile/domains.ts";
import { appendJsonl, parseJson, writeAtomic } from "../files.ts";
import type { Logger } from "./log.ts";
import { initialWeights, stageAdapterFolder } from "../compile/stage_weights.ts";
import { pretrainedWeights } from "../models/params.ts";
import { baseRef, checkBase } from "../models/pretrained/base_ref.ts";
import { PretrainedError } from "../models/pretrained/errors.ts";
import { StageFailure, TrainLoop } from "./train_loop.ts";

export { StageFailure };

/** What a training stage needs from the pipeline run. */
export interface TrainContext {
  device: GPUDevice;
  spec: PipelineSpec;
  name: string;
  stage: TrainStage;
  dir: string;
  domains: DomainCache;
  /** Final weights of the `from` stage (less a pretrained model's frozen checkpoint weights). */
  start?: Map<string, Float32Array>;
  /** LoRA starting values by LoRA parameter name (a stage that starts from an adapter folder). */
  startLora?: Map<string, Float32Array>;
  resume: boolean;
  log: Logger;
}

/** The final weights and the summary of a finished stage. */
export interface TrainResult {
  /** Every weight but a pretrained model's frozen checkpoint weights (read from the checkpoint instead). */
  weights: Map<string, Float32Array>;
  summary: Record<string, unknown>;
}

/** Runs the stage to its last step and writes weights, adapters and summary into `ctx.dir`. */
export async function runTrain(ctx: TrainContext): Promise<TrainResult> {
  const { spec, dir } = ctx;
  const loop = await TrainLoop.compile(ctx.device, spec, ctx.name, ctx.domains);
  const { step, placements, gate } = loop;
  const metricsPath = `${dir}/metrics.jsonl`;
  const vit = pretrainedVit(spec.model);
  if (vit && vit.labels > 0) {
    ctx.log.line(
      `${ctx.name}: classifier (${vit.labels} classes) not used: the pipeline's cosine head replaces it`,
    );
  }
  // a pretrained model's checkpoint weights stream to the GPU a piece at a time and are never held here; the
  // stage's weight files hold what it changed and name the checkpoint for the rest
  const source = pretrainedWeights(spec.model);
  const base = source ? await baseRef(source.dir) : undefined;
  const found = ctx.resume ? await loadCheckpoint(dir, (t) => ctx.log.line(`${ctx.name}: ${t}`)) : undefined;
  if (ctx.resume && !found) {
    ctx.log.line(`${ctx.name}: no checkpoint in ${dir} to resume from; starting at step 0`);
  }
  if (found) {
    const saved = found.checkpoint;
    if (saved.base && source) {
      await checkBase(`${found.path}/weights.safetensors`, saved.base, source.dir).catch((e) => {
        throw e instanceof PretrainedError ? new StageFailure(`stage ${ctx.name}: ${e.message}`) : e;
      });
    }
    // a checkpoint without a reference holds every weight
    await step.store.load(saved.weights, saved.base ? source : undefined);
    loop.restore(saved);
    await truncateMetrics(metricsPath, saved.step);
    ctx.log.line(`${ctx.name}: resuming at step ${saved.step} of ${ctx.stage.steps}`);
  } else {
    await removeCheckpoints(dir);
    await step.store.load(initialWeights(ctx, placements, loop.graph.params.keys(), source), source);
    await Deno.writeTextFile(metricsPath, "");
    const gates = loop.gateLine();
    if (gates) await appendJsonl(metricsPath, gates);
  }

  await loop.run({
    line: (l) => appendJsonl(metricsPath, l),
    progress: (p) => ctx.log.progress(p),
    checkpoint: (c) => saveCheckpoint(dir, { ...c, base }),
    failure: (what) => notFinite(ctx.name, what, dir),
  });

  const weights = await step.store.download();
  await writeAtomic(`${dir}/weights.safetensors`, weightsFile(weights, loop.shapes, base));
  if (placements.length) await saveAdapters(ctx, placements, weights, gate?.scale);
  await saveCheckpoint(dir, { ...(await loop.checkpoint()), base });
  const summary = loop.summary();
  loop.destroy();
  return { weights, summary };
}

/** The failure for a non-finite loss or weights (`what`), naming the last good checkpoint. */
async function notFinite(stage: string, what: string, dir: string): Promise<StageFailure> {
  // a checkpoint is only written after the sums were checked, so one that exists is good
  const last = await lastCheckpoint(dir);
  const where = last ? `the last good checkpoint is in ${last}` : "no checkpoint was written";
  return new StageFailure(`stage ${stage}: ${what}; ${where}`);
}

/** Writes the stage's adapters in the PEFT layout into `dir/adapter`. */
export async function saveAdapters(
  ctx: TrainContext,
  placements: Placement[],
  weights: Map<string, Float32Array>,
  scale: unknown,
): Promise<void> {
  // written beside and renamed into place, so a killed run never leaves a half-written adapter/
  const dir = `${ctx.dir}/adapter`;
  const tmp = `${dir}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(ignoreNotFound);
  await saveAdapterFolder(tmp, stageAdapterFolder(ctx.spec, ctx.name, ctx.stage, placements, weights, scale));
  await Deno.remove(dir, { recursive: true }).catch(ignoreNotFound);
  await Deno.rename(tmp, dir);
}

function ignoreNotFound(e: unknown): void {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}

/** Drops metric lines past `step` (written after the checkpoint a resume starts from). */
async function truncateMetrics(path: string, step: number): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const keep = text.split("\n").filter((l, i) =>
    l && (parseJson<{ step: number }>(l, `${path}:${i + 1}`).step as number) <= step
  );
  await Deno.writeTextFile(path, keep.map((l) => l + "\n").join(""));
}

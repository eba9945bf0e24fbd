/**
 * Starting values of a train stage that starts from folders: every base weight from a merged checkpoint,
 * LoRA (and `modules_to_save` weights) from an adapter folder. Problems name the spec path.
 */
import {
  loadAdapterFolder,
  PeftError,
  type Placement,
  readSafetensors,
  SafetensorsError,
} from "../adapters/mod.ts";
import { loraNames } from "../models/graph.ts";
import { baseParams } from "../models/params.ts";
import { canonicalJson } from "../spec/hash.ts";
import { PipelineError, type Problem } from "../spec/problem.ts";
import { resolveStartFolder, startFolders, startPath } from "../spec/start_folder.ts";
import type { PipelineSpec, StartFolder, TrainStage } from "../spec/types.ts";
import { stagePlacements } from "../compile/stage_setup.ts";

/** Base weights (by parameter name) and LoRA weights (by LoRA parameter name) a stage starts with. */
export interface StartWeights {
  base: Map<string, Float32Array>;
  lora: Map<string, Float32Array>;
}

/**
 * Reads and checks the folders `stage.from` names: base weights from the checkpoint, then LoRA and
 * `modules_to_save` weights from the adapter. Throws PipelineError at `stages.<name>.from.<kind>`.
 */
export async function loadStartFolder(
  spec: PipelineSpec,
  name: string,
  stage: TrainStage,
  from: StartFolder,
): Promise<StartWeights> {
  const out: StartWeights = { base: new Map(), lora: new Map() };
  const problems: Problem[] = [];
  for (const [kind, folder] of startFolders(from)) {
    const dir = await resolveStartFolder(name, kind, folder);
    const found: string[] = [];
    try {
      if (kind === "adapter") await readAdapter(spec, name, stage, dir, out, found);
      else await readCheckpoint(spec, dir, out, found);
    } catch (e) {
      if (!(e instanceof PeftError || e instanceof SafetensorsError || e instanceof SyntaxError)) throw e;
      found.push(e.message);
    }
    problems.push(...found.map((message) => ({ path: startPath(name, kind), message })));
  }
  if (problems.length) throw new PipelineError(problems);
  return out;
}

function baseSetter(spec: PipelineSpec, dir: string, out: StartWeights, problems: string[]) {
  const shapes = new Map(baseParams(spec.model).map((p) => [p.name, p.shape.join(",")]));
  return (param: string, shape: number[], data: Float32Array): void => {
    const want = shapes.get(param);
    if (want === undefined) problems.push(`${dir} holds "${param}", which the model does not have`);
    else if (want !== shape.join(",")) {
      problems.push(`${dir}: "${param}" has shape [${shape}], the model needs [${want}]`);
    } else out.base.set(param, data);
  };
}

async function readCheckpoint(
  spec: PipelineSpec,
  dir: string,
  out: StartWeights,
  problems: string[],
): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  if (config.model_type !== "mixtune" || canonicalJson(config.mixtune) !== canonicalJson(spec.model)) {
    problems.push(
      `${dir}/config.json describes model_type ${JSON.stringify(config.model_type)} ` +
        `${canonicalJson(config.mixtune ?? null)}, not the pipeline's model ${canonicalJson(spec.model)}`,
    );
    return;
  }
  const { tensors } = readSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
  const take = baseSetter(spec, dir, out, problems);
  for (const [param, t] of Object.entries(tensors)) take(param, t.shape, t.data);
  const missing = baseParams(spec.model).map((p) => p.name).filter((p) => !(p in tensors));
  if (missing.length) problems.push(`${dir}/model.safetensors lacks ${missing.join(", ")}`);
}

async function readAdapter(
  spec: PipelineSpec,
  name: string,
  stage: TrainStage,
  dir: string,
  out: StartWeights,
  problems: string[],
): Promise<void> {
  const folder = await loadAdapterFolder(dir);
  const placed = stagePlacements(name, stage, spec.model);
  const show = (p: Placement) => `rank ${p.rank}, scale ${p.scale}${p.gated ? ", gated" : ""}`;
  for (const p of placed) {
    const i = folder.placements.findIndex((q) => q.path === p.path);
    const q = folder.placements[i];
    if (!q) {
      problems.push(`${dir} has no LoRA for "${p.path}", which the stage's adapters place`);
      continue;
    }
    if (
      q.rank !== p.rank || q.gated !== p.gated || q.in !== p.in || q.out !== p.out ||
      Math.abs(q.scale - p.scale) > 1e-12 * Math.abs(p.scale)
    ) {
      problems.push(`${dir} adapts "${p.path}" with ${show(q)}; the stage places ${show(p)}`);
      continue;
    }
    folder.weights[i].branches.forEach((br, b) => {
      const n = loraNames(p.path, p.gated ? (["hq", "lq"] as const)[b] : undefined);
      out.lora.set(n.A, br.a);
      out.lora.set(n.B, br.b);
    });
  }
  for (const q of folder.placements) {
    if (!placed.some((p) => p.path === q.path)) {
      problems.push(`${dir} adapts "${q.path}", which none of the stage's adapters place`);
    }
  }
  const take = baseSetter(spec, dir, out, problems);
  for (const [param, t] of Object.entries(folder.modules ?? {})) take(param, t.shape, t.data);
}

/** Checks every folder a stage of `spec` starts from, before anything runs. */
export async function checkStartFolders(spec: PipelineSpec): Promise<void> {
  for (const [name, stage] of Object.entries(spec.stages)) {
    if (stage.kind === "train" && typeof stage.from === "object") {
      await loadStartFolder(spec, name, stage, stage.from);
    }
  }
}

/**
 * Runs compatible train stages (of one sweep's variants) as one pack, each into its normal stage folder
 * `<out>/<pipeline>/<stage>-<hash8>/`, with that folder's claim held throughout, as `runPipeline` does for
 * one stage. The stages they start from must be done already (the executor orders them). A pack keeps no
 * mid-run checkpoint: a killed pack trains again from step 0 when it is run again (with or without --resume).
 */
import { gpu } from "../gpu/device.ts";
import { GpuError } from "../gpu/errors.ts";
import { stageHash } from "../spec/hash.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { VERSION } from "../version.ts";
import { DomainCache, tokenCacheDir } from "../compile/domains.ts";
import { readWeights, removeCheckpoints } from "./checkpoint.ts";
import { claimStage } from "./claim.ts";
import { exists, removeTemporary } from "../files.ts";
import type { Logger } from "./log.ts";
import { type PackedVariant, runPacked } from "./packed.ts";
import { checkPack } from "./packed_compat.ts";
import { StageFailure } from "./train.ts";

/** One member of a pack: train stage `stage` of pipeline `spec`. */
export interface PackedStage {
  spec: PipelineSpec;
  stage: string;
}

/** What a pack did: the stage folders it trained, and those another process had finished already. */
export interface PackedStagesResult {
  trained: string[];
  reused: string[];
}

/** Claims every member's folder, trains the ones not done in one packed step, releases the claims. */
export async function runPackedStages(
  members: readonly PackedStage[],
  options: { out: string; log: Logger },
): Promise<PackedStagesResult> {
  checkPack(members.map((m) => ({ spec: m.spec, name: m.stage })));
  const folder = async (spec: PipelineSpec, stage: string) =>
    `${options.out}/${spec.name}/${stage}-${(await stageHash(spec, stage, VERSION)).slice(0, 8)}`;
  const releases: (() => Promise<void>)[] = [];
  const result: PackedStagesResult = { trained: [], reused: [] };
  try {
    const todo: PackedVariant[] = [];
    const dirs = await Promise.all(members.map((m) => folder(m.spec, m.stage)));
    const twice = dirs.find((d, i) => dirs.indexOf(d) !== i);
    if (twice) throw new Error(`${twice}: one stage run listed twice in a pack`);
    for (const [i, m] of members.entries()) {
      const dir = dirs[i];
      if (!(await exists(`${dir}/summary.json`))) {
        releases.push(await claimStage(dir));
        // another process may have finished it between the look and the claim
        if (!(await exists(`${dir}/summary.json`))) {
          await removeTemporary(dir);
          todo.push({
            spec: m.spec,
            name: m.stage,
            dir,
            domains: new DomainCache(m.spec, { tokens: tokenCacheDir(options.out) }),
          });
          continue;
        }
      }
      options.log.line(`${m.stage}: unchanged since a previous run, reusing ${dir}`);
      result.reused.push(dir);
    }
    if (todo.length === 0) return result;
    for (const v of todo) {
      const from = v.spec.stages[v.name];
      if (from.kind === "train" && typeof from.from === "string") {
        v.start = await startWeights(await folder(v.spec, from.from), v.name);
      }
      options.log.line(`${v.name}: train -> ${v.dir} (pack of ${todo.length})`);
    }
    const device = (await gpu()).device;
    try {
      await runPacked(device, todo, options.log);
    } catch (e) {
      if (!(e instanceof GpuError)) throw e;
      const names = todo.map((v) => `${v.name} of ${v.spec.name}`).join(", ");
      throw new StageFailure(`stages ${names} (train, packed): ${e.message}; no summary is written`);
    } finally {
      // a member that finished no longer needs checkpoints an earlier run of it alone may have left
      for (const v of todo) {
        if (await exists(`${v.dir}/summary.json`)) {
          await removeCheckpoints(v.dir);
          result.trained.push(v.dir);
        }
      }
    }
    return result;
  } finally {
    for (const release of releases) await release();
  }
}

/** The final weights of the stage a member starts from; they must be there and finite. */
async function startWeights(dir: string, stage: string): Promise<Map<string, Float32Array>> {
  const file = `${dir}/weights.safetensors`;
  if (!(await exists(`${dir}/summary.json`))) {
    throw new StageFailure(`stage ${stage}: the stage it starts from is not done (no ${dir}/summary.json)`);
  }
  const w = readWeights(await Deno.readFile(file)).weights;
  const bad = [...w].find(([, v]) => !v.every(Number.isFinite));
  if (bad) {
    throw new StageFailure(
      `stage ${stage}: ${bad[0]} in ${file} is not finite; delete ${dir} to train that stage again`,
    );
  }
  return w;
}

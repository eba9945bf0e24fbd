/**
 * Checkpoints: weights, Adam moments, and the loop state (step, sampler, metrics so far), written into a
 * temporary folder and renamed into place, so a kill never leaves a half-written checkpoint.
 */
import { readSafetensors, type Tensor, writeSafetensors } from "../adapters/mod.ts";
import type { SamplerState } from "../data/mod.ts";
import { exists, readJson, writeAtomic } from "./files.ts";

/** Everything needed to continue a stage exactly. */
export interface Checkpoint {
  step: number;
  weights: Map<string, Float32Array>;
  shapes: Map<string, readonly number[]>;
  optimizer: { m: Float32Array; v: Float32Array; steps: number };
  sampler: SamplerState;
  /** Per-domain example counts seen so far, and other loop counters. */
  loop: Record<string, unknown>;
}

/** Writes `dir/checkpoint` (replacing the previous one). */
export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  const final = `${dir}/checkpoint`;
  const tmp = `${dir}/checkpoint.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  await Deno.writeFile(`${tmp}/weights.safetensors`, weightsFile(c.weights, c.shapes));
  await Deno.writeFile(
    `${tmp}/optimizer.safetensors`,
    writeSafetensors({
      m: { shape: [c.optimizer.m.length], data: c.optimizer.m },
      v: { shape: [c.optimizer.v.length], data: c.optimizer.v },
    }),
  );
  await writeAtomic(
    `${tmp}/state.json`,
    JSON.stringify({ step: c.step, optimizerSteps: c.optimizer.steps, sampler: c.sampler, loop: c.loop }),
  );
  const old = `${dir}/checkpoint.old`;
  await Deno.remove(old, { recursive: true }).catch(() => {});
  if (await exists(final)) await Deno.rename(final, old);
  await Deno.rename(tmp, final);
  await Deno.remove(old, { recursive: true }).catch(() => {});
}

/** Reads `dir/checkpoint`, or undefined when there is none. */
export async function loadCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  let path = `${dir}/checkpoint`;
  // A kill between the two renames leaves only the old one.
  if (!(await exists(`${path}/state.json`))) path = `${dir}/checkpoint.old`;
  const state = await readJson<
    { step: number; optimizerSteps: number; sampler: SamplerState; loop: Record<string, unknown> }
  >(
    `${path}/state.json`,
  );
  if (!state) return undefined;
  const { weights, shapes } = readWeights(await Deno.readFile(`${path}/weights.safetensors`));
  const opt = readSafetensors(await Deno.readFile(`${path}/optimizer.safetensors`)).tensors;
  return {
    step: state.step,
    weights,
    shapes,
    optimizer: { m: opt.m.data, v: opt.v.data, steps: state.optimizerSteps },
    sampler: state.sampler,
    loop: state.loop,
  };
}

/** A safetensors file of named weights. */
export function weightsFile(
  weights: ReadonlyMap<string, Float32Array>,
  shapes: ReadonlyMap<string, readonly number[]>,
): Uint8Array {
  const tensors: Record<string, Tensor> = {};
  for (const [name, data] of weights) {
    tensors[name] = { shape: [...(shapes.get(name) ?? [data.length])], data };
  }
  return writeSafetensors(tensors, { format: "mixtune" });
}

/** Named weights and shapes from a safetensors file. */
export function readWeights(
  bytes: Uint8Array,
): { weights: Map<string, Float32Array>; shapes: Map<string, number[]> } {
  const { tensors } = readSafetensors(bytes);
  const weights = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of Object.entries(tensors)) {
    weights.set(name, t.data);
    shapes.set(name, t.shape);
  }
  return { weights, shapes };
}

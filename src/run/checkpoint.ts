/**
 * Checkpoints: weights, Adam moments, and the loop state (step, sampler, metrics so far), written into a
 * temporary folder and renamed into place, so a kill never leaves a half-written checkpoint. Each folder has a
 * `sha256.txt` (the `sha256sum` format) checked on resume; the previous checkpoint is kept as a fallback.
 * A pretrained model's frozen checkpoint weights are not copied: the weights file names the checkpoint folder
 * and its fingerprint's digest instead (models/pretrained/base_ref.ts).
 */
import { readSafetensors, type Tensor, writeSafetensors } from "../adapters/mod.ts";
import type { SamplerState } from "../data/mod.ts";
import { exists, parseJson } from "../files.ts";
// read back by run folders, merges and scripts alike; it lives with the safetensors reader
import { readWeights } from "../adapters/safetensors.ts";
import { baseMetadata, baseOf, type BaseRef } from "../models/pretrained/base_ref.ts";
export { readWeights };

/** Everything needed to continue a stage exactly. */
export interface Checkpoint {
  step: number;
  /** Every weight but the pretrained checkpoint's frozen ones, which stay in `base`. */
  weights: Map<string, Float32Array>;
  shapes: Map<string, readonly number[]>;
  /** The pretrained checkpoint the weights left out are read from. */
  base?: BaseRef;
  optimizer: { m: Float32Array; v: Float32Array; steps: number };
  sampler: SamplerState;
  /** Per-domain example counts seen so far, and other loop counters. */
  loop: Record<string, unknown>;
}

/** A checkpoint that fails its hash check and has no good one to fall back to. */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

const FILES = ["weights.safetensors", "optimizer.safetensors", "state.json"] as const;

/** Writes `dir/checkpoint`; the one it replaces becomes `dir/checkpoint.old`. */
export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  const final = `${dir}/checkpoint`;
  const tmp = `${dir}/checkpoint.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  const contents: Record<(typeof FILES)[number], Uint8Array> = {
    "weights.safetensors": weightsFile(c.weights, c.shapes, c.base),
    "optimizer.safetensors": writeSafetensors({
      m: { shape: [c.optimizer.m.length], data: c.optimizer.m },
      v: { shape: [c.optimizer.v.length], data: c.optimizer.v },
    }),
    "state.json": new TextEncoder().encode(
      JSON.stringify({ step: c.step, optimizerSteps: c.optimizer.steps, sampler: c.sampler, loop: c.loop }),
    ),
  };
  const sums: string[] = [];
  for (const name of FILES) {
    await Deno.writeFile(`${tmp}/${name}`, contents[name]);
    sums.push(`${await sha256(contents[name])}  ${name}\n`);
  }
  await Deno.writeTextFile(`${tmp}/sha256.txt`, sums.join(""));
  const old = `${dir}/checkpoint.old`;
  if (await exists(final)) {
    await Deno.remove(old, { recursive: true }).catch(() => {});
    await Deno.rename(final, old);
  }
  await Deno.rename(tmp, final);
}

/** The newest complete checkpoint folder of `dir`, or undefined when there is none. */
export async function lastCheckpoint(dir: string): Promise<string | undefined> {
  for (const path of [`${dir}/checkpoint`, `${dir}/checkpoint.old`]) {
    if (await exists(`${path}/sha256.txt`)) return path;
  }
  return undefined;
}

/** Removes every checkpoint of `dir` (a stage started over). */
export async function removeCheckpoints(dir: string): Promise<void> {
  for (const name of ["checkpoint", "checkpoint.old", "checkpoint.tmp", "checkpoint.damaged"]) {
    await Deno.remove(`${dir}/${name}`, { recursive: true }).catch(() => {});
  }
}

/**
 * Reads the newest checkpoint of `dir` whose files match their hashes, falling back to `checkpoint.old`
 * (telling `warn` why); undefined when there is none; throws CheckpointError when every one is damaged.
 */
export async function loadCheckpoint(
  dir: string,
  warn: (text: string) => void,
): Promise<{ checkpoint: Checkpoint; path: string } | undefined> {
  const damaged: string[] = [];
  for (const path of [`${dir}/checkpoint`, `${dir}/checkpoint.old`]) {
    if (!(await exists(path))) continue;
    const problem = await verify(path);
    if (problem) {
      damaged.push(path);
      warn(`checkpoint ${path} is damaged: ${problem}`);
      continue;
    }
    if (damaged.length) {
      // set aside, so the next save does not rotate it into checkpoint.old over the good one
      await Deno.remove(`${dir}/checkpoint.damaged`, { recursive: true }).catch(() => {});
      await Deno.rename(damaged[0], `${dir}/checkpoint.damaged`);
      warn(
        `resuming from the previous checkpoint ${path} instead; the damaged one is now ${dir}/checkpoint.damaged`,
      );
    }
    return { checkpoint: await readCheckpoint(path), path };
  }
  if (damaged.length === 0) return undefined;
  throw new CheckpointError(
    `no usable checkpoint: ${damaged.join(" and ")} ${damaged.length > 1 ? "are" : "is"} damaged; ` +
      `delete ${damaged.length > 1 ? "them" : "it"} to start the stage from step 0`,
  );
}

/** What is wrong with a checkpoint folder, or undefined when every file matches `sha256.txt`. */
async function verify(path: string): Promise<string | undefined> {
  let listing: string;
  try {
    listing = await Deno.readTextFile(`${path}/sha256.txt`);
  } catch {
    return "sha256.txt is missing";
  }
  const sums = new Map<string, string>();
  for (const line of listing.split("\n").filter((l) => l !== "")) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (m) sums.set(m[2], m[1]);
  }
  for (const name of FILES) {
    const want = sums.get(name);
    if (!want) return `sha256.txt has no hash for ${name}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(`${path}/${name}`);
    } catch {
      return `${name} is missing`;
    }
    if ((await sha256(bytes)) !== want) return `${name} does not match its sha-256 in sha256.txt`;
  }
  return undefined;
}

async function readCheckpoint(path: string): Promise<Checkpoint> {
  const file = `${path}/state.json`;
  const state = parseJson<
    { step: number; optimizerSteps: number; sampler: SamplerState; loop: Record<string, unknown> }
  >(await Deno.readTextFile(file), file);
  const saved = readSafetensors(await Deno.readFile(`${path}/weights.safetensors`));
  const weights = new Map(Object.entries(saved.tensors).map(([n, t]) => [n, t.data]));
  const shapes = new Map(Object.entries(saved.tensors).map(([n, t]) => [n, t.shape]));
  const opt = readSafetensors(await Deno.readFile(`${path}/optimizer.safetensors`)).tensors;
  return {
    step: state.step,
    weights,
    shapes,
    base: baseOf(saved.metadata),
    optimizer: { m: opt.m.data, v: opt.v.data, steps: state.optimizerSteps },
    sampler: state.sampler,
    loop: state.loop,
  };
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A safetensors file of named weights, naming the pretrained checkpoint `base` that holds the others. */
export function weightsFile(
  weights: ReadonlyMap<string, Float32Array>,
  shapes: ReadonlyMap<string, readonly number[]>,
  base?: BaseRef,
): Uint8Array {
  const tensors: Record<string, Tensor> = {};
  for (const [name, data] of weights) {
    tensors[name] = { shape: [...(shapes.get(name) ?? [data.length])], data };
  }
  return writeSafetensors(tensors, { format: "mixtune", ...baseMetadata(base) });
}

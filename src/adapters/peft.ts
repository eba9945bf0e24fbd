/**
 * Adapters in the Hugging Face PEFT layout: `adapter_model.safetensors` + `adapter_config.json`.
 *
 * Tensor keys are `base_model.model.<module path>.lora_A.weight` ([r, in]) and `.lora_B.weight` ([out, r]).
 * A gated (two-branch) placement has no single PEFT equivalent; its branches carry an adapter-name suffix:
 * `lora_A.hq.weight` / `lora_B.hq.weight` for branch 0 (weighted by g) and `lora_A.lq.weight` /
 * `lora_B.lq.weight` for branch 1 (weighted by 1 - g), the names PEFT gives a second adapter in the key.
 * The config's PEFT fields describe the placements (`r` and `lora_alpha` of the first, `rank_pattern` and
 * `alpha_pattern` for the others); the `mixtune` block holds the full spec and is what loading reads.
 */

import type { AdapterWeights, LoraBranch } from "./init.ts";
import type { AdapterSpec, Placement } from "./placement.ts";
import { readSafetensors, type Tensor, writeSafetensors } from "./safetensors.ts";

/** File name of the weights. */
export const PEFT_MODEL_FILE = "adapter_model.safetensors";
/** File name of the config. */
export const PEFT_CONFIG_FILE = "adapter_config.json";

/** Everything needed to rebuild an adapted model's LoRA layers. */
export interface PeftAdapter {
  adapters: AdapterSpec[];
  /** In the order of `weights`. */
  placements: Placement[];
  weights: AdapterWeights[];
  /** Further spec to keep with the weights (gate mapping, quality scale, ...), stored in the mixtune block. */
  extra?: Record<string, unknown>;
}

/** The two files as bytes and text. */
export interface PeftFiles {
  /** `adapter_config.json`. */
  config: string;
  /** `adapter_model.safetensors`. */
  model: Uint8Array;
}

/** An adapter that cannot be saved, or PEFT files that cannot be loaded. */
export class PeftError extends Error {
  override name = "PeftError";
}

const BRANCH_NAMES = ["hq", "lq"] as const;

/** The PEFT tensor key of a placement's A or B matrix; `branch` is set only for gated placements. */
export function peftKey(path: string, matrix: "A" | "B", branch?: 0 | 1): string {
  const name = branch === undefined ? "" : `${BRANCH_NAMES[branch]}.`;
  return `base_model.model.${path}.lora_${matrix}.${name}weight`;
}

/** Encodes an adapter as PEFT files; the floats are stored as they are, bit for bit. */
export function encodePeft(adapter: PeftAdapter): PeftFiles {
  const { placements, weights } = adapter;
  if (placements.length === 0) throw new PeftError("there are no placements to save");
  if (weights.length !== placements.length) {
    throw new PeftError(`${placements.length} placements but ${weights.length} weight sets`);
  }
  const reserved = Object.keys(adapter.extra ?? {}).filter((k) =>
    ["version", "adapters", "placements"].includes(k)
  );
  if (reserved.length > 0) throw new PeftError(`extra cannot use the reserved keys ${reserved.join(", ")}`);
  const tensors: Record<string, Tensor> = {};
  placements.forEach((p, i) => {
    const w = weights[i];
    const count = p.gated ? 2 : 1;
    if (w.path !== p.path || w.branches.length !== count) {
      throw new PeftError(
        `weights[${i}] ("${w.path}", ${w.branches.length} branches) do not belong to placement "${p.path}" ` +
          `(${count} branches)`,
      );
    }
    w.branches.forEach((branch, j) => {
      const suffix = p.gated ? (j as 0 | 1) : undefined;
      tensors[peftKey(p.path, "A", suffix)] = checked(p, branch.a, [p.rank, p.in], "A");
      tensors[peftKey(p.path, "B", suffix)] = checked(p, branch.b, [p.out, p.rank], "B");
    });
  });
  const config = peftConfig(adapter);
  return {
    config: JSON.stringify(config, null, 2) + "\n",
    model: writeSafetensors(tensors, { format: "pt" }),
  };
}

function checked(p: Placement, data: Float32Array, shape: number[], matrix: string): Tensor {
  if (data.length !== shape[0] * shape[1]) {
    throw new PeftError(
      `"${p.path}" lora_${matrix} has ${data.length} values, expected [${shape.join(", ")}] = ${
        shape[0] * shape[1]
      }`,
    );
  }
  return { shape, data };
}

function peftConfig(adapter: PeftAdapter): Record<string, unknown> {
  const { placements, adapters } = adapter;
  const first = adapters[placements[0].adapter];
  const rslora = typeof first?.scale === "object" && first.scale.rslora === true;
  // alpha such that PEFT's own formula (alpha / r, or alpha / sqrt(r)) gives back the resolved scale
  const alphaOf = (p: Placement): number => rslora ? p.scale * Math.sqrt(p.rank) : p.scale * p.rank;
  const r = placements[0].rank;
  const alpha = alphaOf(placements[0]);
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const p of placements) {
    const key = p.path.replaceAll(".", "\\.");
    if (p.rank !== r) rankPattern[key] = p.rank;
    if (alphaOf(p) !== alpha) alphaPattern[key] = alphaOf(p);
  }
  return {
    peft_type: "LORA",
    base_model_name_or_path: null,
    r,
    lora_alpha: alpha,
    target_modules: placements.map((p) => p.path),
    lora_dropout: placements[0].dropout,
    bias: "none",
    task_type: null,
    use_rslora: rslora,
    fan_in_fan_out: false,
    inference_mode: true,
    modules_to_save: null,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    mixtune: { version: 1, adapters: adapter.adapters, placements, ...(adapter.extra ?? {}) },
  };
}

/** Decodes PEFT files written by `encodePeft`; checks every tensor's presence and shape. */
export function decodePeft(files: PeftFiles): PeftAdapter {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(files.config);
  } catch (e) {
    throw new PeftError(`${PEFT_CONFIG_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  if (config.peft_type !== "LORA") {
    throw new PeftError(
      `${PEFT_CONFIG_FILE}: peft_type must be "LORA", found ${JSON.stringify(config.peft_type)}`,
    );
  }
  const block = config.mixtune as Record<string, unknown> | undefined;
  if (typeof block !== "object" || block === null) {
    throw new PeftError(
      `${PEFT_CONFIG_FILE} has no "mixtune" block; only adapters saved by mixtune can be loaded`,
    );
  }
  if (block.version !== 1) {
    throw new PeftError(
      `${PEFT_CONFIG_FILE}: mixtune block version ${JSON.stringify(block.version)} is not 1`,
    );
  }
  const { version: _version, adapters, placements, ...extra } = block;
  if (!Array.isArray(adapters) || !Array.isArray(placements)) {
    throw new PeftError(`${PEFT_CONFIG_FILE}: mixtune block needs "adapters" and "placements" arrays`);
  }
  (placements as unknown[]).forEach(checkPlacement);
  const { tensors } = readSafetensors(files.model);
  const used = new Set<string>();
  const take = (key: string, shape: number[]): Float32Array => {
    const t = tensors[key];
    if (!t) throw new PeftError(`${PEFT_MODEL_FILE} has no tensor "${key}"`);
    if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
      throw new PeftError(`${PEFT_MODEL_FILE}: "${key}" has shape [${t.shape}], expected [${shape}]`);
    }
    used.add(key);
    return t.data;
  };
  const weights = (placements as Placement[]).map((p): AdapterWeights => {
    const suffixes: (0 | 1 | undefined)[] = p.gated ? [0, 1] : [undefined];
    const branches = suffixes.map((s): LoraBranch => ({
      a: take(peftKey(p.path, "A", s), [p.rank, p.in]),
      b: take(peftKey(p.path, "B", s), [p.out, p.rank]),
    }));
    return { path: p.path, branches };
  });
  const unexpected = Object.keys(tensors).filter((k) => !used.has(k));
  if (unexpected.length > 0) {
    throw new PeftError(`${PEFT_MODEL_FILE} holds tensors no placement uses: ${unexpected.join(", ")}`);
  }
  const result: PeftAdapter = {
    adapters: adapters as AdapterSpec[],
    placements: placements as Placement[],
    weights,
  };
  if (Object.keys(extra).length > 0) result.extra = extra;
  return result;
}

function checkPlacement(value: unknown, i: number): void {
  const p = value as Partial<Placement>;
  const count = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;
  if (
    typeof p !== "object" || p === null || typeof p.path !== "string" || !count(p.in) || !count(p.out) ||
    !count(p.rank) || typeof p.gated !== "boolean" || !Number.isFinite(p.scale)
  ) {
    throw new PeftError(
      `${PEFT_CONFIG_FILE}: mixtune.placements[${i}] must have a path, positive integer in, out and rank, ` +
        `a boolean gated and a finite scale; found ${JSON.stringify(value)}`,
    );
  }
}

/** Writes `adapter_config.json` and `adapter_model.safetensors` into `dir` (created if missing). */
export async function savePeft(dir: string, adapter: PeftAdapter): Promise<void> {
  const files = encodePeft(adapter);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/${PEFT_CONFIG_FILE}`, files.config);
  await Deno.writeFile(`${dir}/${PEFT_MODEL_FILE}`, files.model);
}

/** Reads an adapter saved by `savePeft`. */
export async function loadPeft(dir: string): Promise<PeftAdapter> {
  const config = await Deno.readTextFile(`${dir}/${PEFT_CONFIG_FILE}`);
  const model = await Deno.readFile(`${dir}/${PEFT_MODEL_FILE}`);
  return decodePeft({ config, model });
}

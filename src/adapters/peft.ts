/**
 * One LoRA adapter in the Hugging Face PEFT layout: `adapter_model.safetensors` + `adapter_config.json`,
 * loadable by `PeftModel.from_pretrained` as it is.
 *
 * Tensor keys are those `get_peft_model_state_dict` writes, without the adapter name:
 * `base_model.model.<module path>.lora_A.weight` ([r, in]) and `.lora_B.weight` ([out, r]); weights of
 * modules trained outright (`modules_to_save`) are stored as `base_model.model.<parameter name>`, which
 * `set_peft_model_state_dict` maps back into the module's saved copy. PEFT's scaling is `lora_alpha / r`, or
 * `lora_alpha / sqrt(r)` with `use_rslora`; `lora_alpha` is chosen so that it equals mixtune's multiplier.
 * The config holds only keys PEFT's `LoraConfig` knows. Gated pairs are two such adapters (adapter_folder.ts).
 */

import { files as host } from "../host/files.ts";
import type { AdapterWeights } from "./init.ts";
import type { LoraScale, Placement } from "./placement.ts";
import { readSafetensors, SafetensorsError, type Tensor, writeSafetensors } from "./safetensors.ts";

/** File name of the weights. */
export const PEFT_MODEL_FILE = "adapter_model.safetensors";
/** File name of the config. */
export const PEFT_CONFIG_FILE = "adapter_config.json";

/** A single (not gated) LoRA adapter with the weights it ships. */
export interface PeftAdapter {
  /** Not gated; in the order of `weights`. */
  placements: Placement[];
  weights: AdapterWeights[];
  /** How each placement's multiplier was written, by placement path; absent means a plain multiplier. */
  scales?: Record<string, LoraScale>;
  /** Module paths trained outright (`head`), saved whole. */
  modulesToSave?: string[];
  /** Every parameter of the `modulesToSave` modules, by parameter name (`head.weight`). */
  modules?: Record<string, Tensor>;
  /** The base checkpoint the adapter belongs to; null for a model mixtune built from scratch. */
  baseModel?: string | null;
  /** PEFT's task type ("CAUSAL_LM" for language models); null for the rest. */
  taskType?: string | null;
  /**
   * The base stores its weights [in, out] (GPT-2's Conv1D). PEFT then transposes B A when merging; lora_A
   * and lora_B keep their shapes [r, in] and [out, r] either way.
   */
  fanInFanOut?: boolean;
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

/** The PEFT tensor key of a placement's A or B matrix. */
export function peftKey(path: string, matrix: "A" | "B"): string {
  return `base_model.model.${path}.lora_${matrix}.weight`;
}

const PREFIX = "base_model.model.";

/** `lora_alpha` for a placement: the user's alpha when it was given as one, else `s r` or `s sqrt(r)`. */
function alphaOf(p: Placement, scale: LoraScale | undefined, rslora: boolean): number {
  if (typeof scale === "object" && (scale.rslora === true) === rslora) return scale.alpha;
  return rslora ? p.scale * Math.sqrt(p.rank) : p.scale * p.rank;
}

/** Encodes an adapter as PEFT files; the floats are stored as they are, bit for bit. */
export function encodePeft(adapter: PeftAdapter): PeftFiles {
  const { placements, weights } = adapter;
  if (placements.length === 0) throw new PeftError("there are no placements to save");
  if (weights.length !== placements.length) {
    throw new PeftError(`${placements.length} placements but ${weights.length} weight sets`);
  }
  const tensors: Record<string, Tensor> = {};
  placements.forEach((p, i) => {
    const w = weights[i];
    if (p.gated) {
      throw new PeftError(`"${p.path}" is gated: save its two branches as two adapters (saveAdapterFolder)`);
    }
    if (w.path !== p.path || w.branches.length !== 1) {
      throw new PeftError(
        `weights[${i}] ("${w.path}", ${w.branches.length} branches) do not belong to placement "${p.path}" ` +
          `(1 branch)`,
      );
    }
    tensors[peftKey(p.path, "A")] = checked(p, w.branches[0].a, [p.rank, p.in], "A");
    tensors[peftKey(p.path, "B")] = checked(p, w.branches[0].b, [p.out, p.rank], "B");
  });
  const toSave = adapter.modulesToSave ?? [];
  for (const [name, t] of Object.entries(adapter.modules ?? {})) {
    if (!toSave.some((m) => name.startsWith(`${m}.`) || name === m)) {
      throw new PeftError(
        `module weight "${name}" belongs to no module of modulesToSave (${toSave.join(", ")})`,
      );
    }
    tensors[PREFIX + name] = t;
  }
  return {
    config: JSON.stringify(peftConfig(adapter), null, 2) + "\n",
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
  const { placements } = adapter;
  const scales = adapter.scales ?? {};
  const first = scales[placements[0].path];
  const rslora = typeof first === "object" && first.rslora === true;
  const alpha = (p: Placement) => alphaOf(p, scales[p.path], rslora);
  const r = placements[0].rank;
  const a = alpha(placements[0]);
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const p of placements) {
    // PEFT matches pattern keys as regular expressions against the module name's end
    const key = p.path.replaceAll(".", "\\.");
    if (p.rank !== r) rankPattern[key] = p.rank;
    if (alpha(p) !== a) alphaPattern[key] = alpha(p);
  }
  const toSave = adapter.modulesToSave ?? [];
  return {
    peft_type: "LORA",
    base_model_name_or_path: adapter.baseModel ?? null,
    revision: null,
    task_type: adapter.taskType ?? null,
    inference_mode: true,
    r,
    lora_alpha: a,
    target_modules: placements.map((p) => p.path),
    lora_dropout: placements[0].dropout,
    fan_in_fan_out: adapter.fanInFanOut ?? false,
    bias: "none",
    use_rslora: rslora,
    modules_to_save: toSave.length ? toSave : null,
    init_lora_weights: true,
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
  };
}

/** PEFT's rule for pattern keys: the first key that matches the end of the module path, else the default. */
function patterned(patterns: unknown, path: string, fallback: number): number {
  if (typeof patterns !== "object" || patterns === null) return fallback;
  for (const [key, value] of Object.entries(patterns as Record<string, number>)) {
    if (new RegExp(`^(.*\\.)?(${key})$`).test(path)) return value;
  }
  return fallback;
}

/**
 * Decodes PEFT LoRA files: placements come from the tensors (path, shapes, rank) and the config (scaling,
 * dropout); every other tensor must belong to a `modules_to_save` module.
 */
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
  for (const field of ["r", "lora_alpha"]) {
    if (!(typeof config[field] === "number" && (config[field] as number) > 0)) {
      throw new PeftError(
        `${PEFT_CONFIG_FILE}: ${field} must be a positive number, found ${JSON.stringify(config[field])}`,
      );
    }
  }
  if (config.fan_in_fan_out !== undefined && typeof config.fan_in_fan_out !== "boolean") {
    throw new PeftError(
      `${PEFT_CONFIG_FILE}: fan_in_fan_out must be true or false, found ${
        JSON.stringify(config.fan_in_fan_out)
      }`,
    );
  }
  if (config.bias !== undefined && config.bias !== "none") {
    throw new PeftError(`${PEFT_CONFIG_FILE}: bias must be "none", found ${JSON.stringify(config.bias)}`);
  }
  const rslora = config.use_rslora === true;
  const toSave = Array.isArray(config.modules_to_save) ? (config.modules_to_save as string[]) : [];
  const { tensors } = readSafetensors(files.model);
  const placements: Placement[] = [];
  const weights: AdapterWeights[] = [];
  const modules: Record<string, Tensor> = {};
  const suffixA = ".lora_A.weight";
  for (const [key, t] of Object.entries(tensors).sort(([x], [y]) => x < y ? -1 : 1)) {
    if (!key.startsWith(PREFIX)) throw new PeftError(`${PEFT_MODEL_FILE}: key "${key}" lacks "${PREFIX}"`);
    const name = key.slice(PREFIX.length);
    if (key.endsWith(".lora_B.weight")) {
      const a = key.replace(/\.lora_B\.weight$/, suffixA);
      if (!tensors[a]) throw new PeftError(`${PEFT_MODEL_FILE} has "${key}" but no "${a}"`);
      continue;
    }
    if (!key.endsWith(suffixA)) {
      if (!toSave.some((m) => name === m || name.startsWith(`${m}.`))) {
        throw new PeftError(
          `${PEFT_MODEL_FILE}: "${key}" is neither a LoRA matrix nor part of modules_to_save ` +
            `(${toSave.join(", ") || "none"})`,
        );
      }
      modules[name] = t;
      continue;
    }
    const path = name.slice(0, -suffixA.length);
    const b = tensors[peftKey(path, "B")];
    if (!b) throw new PeftError(`${PEFT_MODEL_FILE} has "${key}" but no "${peftKey(path, "B")}"`);
    const [rank, n] = t.shape;
    const r = patterned(config.rank_pattern, path, config.r as number);
    if (t.shape.length !== 2 || rank !== r || b.shape.length !== 2 || b.shape[1] !== rank) {
      throw new PeftError(
        `${PEFT_MODEL_FILE}: "${path}" has lora_A [${t.shape}] and lora_B [${b.shape}], expected rank ${r}`,
      );
    }
    const alpha = patterned(config.alpha_pattern, path, config.lora_alpha as number);
    placements.push({
      path,
      in: n,
      out: b.shape[0],
      adapter: 0,
      rank,
      scale: rslora ? alpha / Math.sqrt(rank) : alpha / rank,
      gated: false,
      dropout: typeof config.lora_dropout === "number" ? config.lora_dropout : 0,
      init: "kaiming",
    });
    weights.push({ path, branches: [{ a: t.data, b: b.data }] });
  }
  if (placements.length === 0) throw new PeftError(`${PEFT_MODEL_FILE} holds no lora_A tensors`);
  return {
    placements,
    weights,
    scales: Object.fromEntries(placements.map((p) => [p.path, {
      alpha: patterned(config.alpha_pattern, p.path, config.lora_alpha as number),
      rslora,
    }])),
    modulesToSave: toSave,
    modules,
    baseModel: typeof config.base_model_name_or_path === "string" ? config.base_model_name_or_path : null,
    taskType: typeof config.task_type === "string" ? config.task_type : null,
    fanInFanOut: config.fan_in_fan_out === true,
  };
}

/** Writes `adapter_config.json` and `adapter_model.safetensors` into `dir` (created if missing). */
export async function savePeft(dir: string, adapter: PeftAdapter): Promise<void> {
  const files = encodePeft(adapter);
  await host().mkdir(dir);
  await host().writeTextFile(`${dir}/${PEFT_CONFIG_FILE}`, files.config);
  await host().writeFile(`${dir}/${PEFT_MODEL_FILE}`, files.model);
}

/** Reads a PEFT LoRA adapter folder. */
export async function loadPeft(dir: string): Promise<PeftAdapter> {
  const read = async <T>(file: string, f: (p: string) => Promise<T>): Promise<T> => {
    try {
      return await f(`${dir}/${file}`);
    } catch (e) {
      if (host().notFound(e)) throw new PeftError(`${dir}/${file}: no such file`);
      throw e;
    }
  };
  const config = await read(PEFT_CONFIG_FILE, (p) => host().readTextFile(p));
  const model = await read(PEFT_MODEL_FILE, (p) => host().readFile(p));
  try {
    return decodePeft({ config, model });
  } catch (e) {
    if (e instanceof PeftError) throw new PeftError(`${dir}: ${e.message}`);
    if (e instanceof SafetensorsError) throw new PeftError(`${dir}/${PEFT_MODEL_FILE}: ${e.message}`);
    throw e;
  }
}

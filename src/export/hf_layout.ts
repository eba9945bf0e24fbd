/**
 * Checkpoints in the Hugging Face layout: `config.json` and `model.safetensors` (float32). A model mixtune
 * built itself has no Hugging Face class, so its config says `model_type: "mixtune"`, names the backbone in
 * `architectures`, and carries mixtune's model config under `mixtune`; its tensors keep mixtune's names.
 */
import { type Tensor, writeSafetensors } from "../adapters/safetensors.ts";
import type { ModelConfig } from "../models/config.ts";
import { VERSION } from "../version.ts";
import { ExportError } from "./errors.ts";

/** File name of the model config. */
export const HF_CONFIG_FILE = "config.json";
/** File name of the weights (one file; no shards). */
export const HF_MODEL_FILE = "model.safetensors";

/** `architectures` entries of mixtune's own backbones. */
export const MIXTUNE_ARCHITECTURES: Record<"lm" | "vit", string> = {
  lm: "MixtuneByteLm",
  vit: "MixtuneVit",
};

/** The `config.json` of a mixtune-built model. */
export function mixtuneHfConfig(model: ModelConfig & { backbone: "lm" | "vit" }): Record<string, unknown> {
  return {
    model_type: "mixtune",
    architectures: [MIXTUNE_ARCHITECTURES[model.backbone]],
    torch_dtype: "float32",
    mixtune_version: VERSION,
    mixtune: model,
  };
}

/**
 * Writes `config.json` and `model.safetensors` into `dir` (created if missing); every tensor must be finite,
 * so a diverged model is never written as a checkpoint.
 */
export async function writeHfCheckpoint(
  dir: string,
  config: Record<string, unknown>,
  tensors: Record<string, Tensor>,
): Promise<void> {
  for (const [name, t] of Object.entries(tensors)) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new ExportError(`tensor "${name}" holds ${t.data[bad]} at index ${bad}; nothing written`);
    }
  }
  const bytes = writeSafetensors(tensors, { format: "pt" });
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/${HF_CONFIG_FILE}`, JSON.stringify(config, null, 2) + "\n");
  await Deno.writeFile(`${dir}/${HF_MODEL_FILE}`, bytes);
}

/** A trained stage folded into one model: LoRA merged into the base weights, ready for the Hugging Face layout. */
import { loadAdapterFolder } from "../adapters/adapter_folder.ts";
import { MergeError, mergeLora } from "../adapters/merge.ts";
import { readSafetensors, type Tensor } from "../adapters/safetensors.ts";
import type { ModelConfig } from "../models/config.ts";
import { baseParams } from "../models/params.ts";
import { readPretrainedConfig } from "../models/pretrained/checkpoint.ts";
import { checkpointLayout } from "../models/pretrained/write.ts";
import { baseOf, checkBase } from "../models/pretrained/base_ref.ts";
import { PretrainedWeights } from "../models/pretrained/weights.ts";
import { mixtuneHfConfig } from "./hf_layout.ts";

/** A merged model: its `config.json` and its tensors. */
export interface MergedModel {
  config: Record<string, unknown>;
  tensors: Record<string, Tensor>;
  /** Module paths whose LoRA was folded in. */
  merged: string[];
  /** Files of the checkpoint folder that travel with the merged model (its tokenizer), as paths. */
  copies: string[];
}

/**
 * A checkpoint folder's tokenizer files and a ViT's image processor settings, copied next to a merged model
 * so that it tokenizes, resizes and normalises alike.
 */
const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "preprocessor_config.json",
];

async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new MergeError(`${path}: no such file`);
    throw e;
  }
}

/**
 * Merges the train stage in `dir` (a run's stage folder): base weights from `weights.safetensors` (and, for
 * those it leaves in the pretrained checkpoint it names, from that checkpoint, if unchanged), LoRA from
 * `adapter/`. Gated pairs merge only at a fixed `gate` g: W + s (g B1 A1 + (1 - g) B2 A2).
 */
export async function mergeStage(dir: string, options: { gate?: number } = {}): Promise<MergedModel> {
  let spec: { model?: ModelConfig; spec?: { kind?: string } };
  try {
    spec = JSON.parse(await readText(`${dir}/spec.json`));
  } catch (e) {
    if (e instanceof SyntaxError) throw new MergeError(`${dir}/spec.json is not valid JSON: ${e.message}`);
    throw e;
  }
  if (spec.spec?.kind !== "train") {
    throw new MergeError(`${dir} is not a train stage (spec.json kind ${JSON.stringify(spec.spec?.kind)})`);
  }
  const model = spec.model;
  if (!model || !["lm", "vit", "pretrained"].includes(model.backbone)) {
    throw new MergeError(`${dir}/spec.json has no model config; run the stage again with this version`);
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(`${dir}/weights.safetensors`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new MergeError(`${dir}/weights.safetensors: no such file (did the stage finish?)`);
    }
    throw e;
  }
  const saved = readSafetensors(bytes);
  const ref = baseOf(saved.metadata);
  let frozen: PretrainedWeights | undefined;
  if (ref && model.backbone === "pretrained") {
    await checkBase(`${dir}/weights.safetensors`, ref, model.pretrained);
    frozen = PretrainedWeights.open(model.pretrained);
  }
  const tensors: Record<string, Tensor> = {};
  for (const p of baseParams(model)) {
    const own = saved.tensors[p.name];
    const data = own?.data ?? (frozen?.has(p.name) ? frozen.read(p.name) : undefined);
    const shape = own?.shape ?? (data ? p.shape : undefined);
    if (!data || !shape) throw new MergeError(`${dir}/weights.safetensors has no tensor "${p.name}"`);
    if (shape.join(",") !== p.shape.join(",")) {
      throw new MergeError(
        `${dir}/weights.safetensors: "${p.name}" has shape [${shape}], the model needs [${p.shape}]`,
      );
    }
    tensors[p.name] = { shape: p.shape, data };
  }
  const merged: string[] = [];
  const hasAdapter = await Deno.stat(`${dir}/adapter`).then(() => true, () => false);
  if (hasAdapter) {
    const folder = await loadAdapterFolder(`${dir}/adapter`);
    const gated = folder.placements.filter((p) => p.gated).map((p) => p.path);
    if (gated.length > 0 && options.gate === undefined) {
      throw new MergeError(
        `${dir}/adapter is a gated pair (${
          gated.join(", ")
        }): merging needs a fixed gate g in [0, 1] (--gate)`,
      );
    }
    folder.placements.forEach((p, i) => {
      const base = tensors[`${p.path}.weight`];
      if (!base) throw new MergeError(`${dir}/adapter adapts "${p.path}", which the model does not have`);
      const data = mergeLora(base.data, p, folder.weights[i], p.gated ? options.gate : undefined);
      tensors[`${p.path}.weight`] = { shape: base.shape, data };
      merged.push(p.path);
    });
    // weights the stage trained outright travel in the adapter too; they equal those in weights.safetensors
  }
  if (model.backbone !== "pretrained") return { config: mixtuneHfConfig(model), tensors, merged, copies: [] };
  // the checkpoint's own config and names; GPT-2's Conv1D weights go back to [in, out]
  const { arch, config } = readPretrainedConfig(model.pretrained);
  const hf = new Map(Object.entries(tensors).map(([k, t]) => [k, t.data]));
  if (arch.family === "vit" && arch.labels > 0) {
    // the stage trained its own head in place of `classifier`: the checkpoint's travels unchanged
    const checkpoint = frozen ?? PretrainedWeights.open(model.pretrained);
    for (const name of ["classifier.weight", "classifier.bias"]) hf.set(name, checkpoint.read(name));
  }
  const layout = checkpointLayout(arch, hf);
  const copies: string[] = [];
  for (const f of TOKENIZER_FILES) {
    const path = `${model.pretrained}/${f}`;
    if (await Deno.stat(path).then(() => true, () => false)) copies.push(path);
  }
  return { config: { ...config, torch_dtype: "float32" }, tensors: layout, merged, copies };
}

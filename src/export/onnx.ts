/** Export a ViT embedding model (with its LoRA adapters) as an ONNX file, opset 17. */

import type { VitConfig } from "../models/config.ts";
import { GraphBuilder, tensorInfo } from "./_graph.ts";
import { encodeModel, type ModelMsg } from "./_onnx_proto.ts";
import { isGated, validateLora, validateVitWeights } from "./_validate.ts";
import { buildVitGraph, IO } from "./_vit_graph.ts";
import { VERSION } from "../version.ts";
import { ExportError } from "./errors.ts";
import type { LoraSet, Weights } from "./types.ts";

/** The ONNX operator set the exporter targets. */
export const ONNX_OPSET = 17;
/** IR version 8 is the one that goes with opset 17. */
export const ONNX_IR_VERSION = 8;

/** Options of {@link vitToOnnx}. */
export interface OnnxExportOptions {
  /** s of the cosine head: logits = s * cos(embedding, W_c) (no margin at inference). */
  logitScale: number;
  /**
   * Adapters by module path. Plain modules are merged into W (W' = W + s B A); if any module is gated,
   * the model takes a `gate` input [batch] and gated modules keep their two branches.
   */
  lora?: LoraSet;
  /** Graph name (default "mixtune_vit"). */
  name?: string;
  /** Extra key/value metadata stored in the model. */
  metadata?: Record<string, string>;
}

/**
 * Build the ONNX ModelProto bytes of a ViT: input `image` [batch, image*image] (and `gate` [batch] when
 * some LoRA is gated), outputs `embedding` [batch, embedDim] and `logits` [batch, classes].
 *
 * @example
 * ```ts ignore
 * const bytes = vitToOnnx(config, weights, { logitScale: 64, lora });
 * ```
 */
export function vitToOnnx(config: VitConfig, weights: Weights, options: OnnxExportOptions): Uint8Array {
  validateVitWeights(config, weights);
  const lora = options.lora ?? {};
  validateLora(config, lora);
  if (!Number.isFinite(options.logitScale) || options.logitScale <= 0) {
    throw new ExportError(`logitScale: expected a positive number, found ${options.logitScale}`);
  }
  const gated = isGated(lora);
  const g = new GraphBuilder();
  const inputs = [tensorInfo(g.reserve(IO.image), ["batch", config.image * config.image])];
  if (gated) inputs.push(tensorInfo(g.reserve(IO.gate), ["batch"]));
  buildVitGraph(g, config, weights, lora, options.logitScale);
  const model: ModelMsg = {
    ir_version: ONNX_IR_VERSION,
    producer_name: "mixtune",
    producer_version: VERSION,
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    graph: {
      name: options.name ?? "mixtune_vit",
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: [
        tensorInfo(IO.embedding, ["batch", config.embedDim]),
        tensorInfo(IO.logits, ["batch", config.classes]),
      ],
    },
    metadata_props: Object.entries({
      config: JSON.stringify(config),
      logit_scale: String(options.logitScale),
      gated: String(gated),
      lora_modules: Object.keys(lora).join(","),
      ...options.metadata,
    }).map(([key, value]) => ({ key, value })),
  };
  return encodeModel(model);
}

/** Export with {@link vitToOnnx} and write the bytes to `path`; returns the bytes. */
export async function writeOnnx(
  path: string,
  config: VitConfig,
  weights: Weights,
  options: OnnxExportOptions,
): Promise<Uint8Array> {
  const bytes = vitToOnnx(config, weights, options);
  await Deno.writeFile(path, bytes);
  return bytes;
}

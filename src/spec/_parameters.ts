/** Every parameter name of a model, for checking `trainable` patterns against. */

import { linearModules, type ModelConfig } from "../models/config.ts";
import { baseParams } from "../models/params.ts";

/** Parameter names in the shared model contract: embeddings, linears, layer norms and the final norm. */
export function parameterNames(config: ModelConfig): string[] {
  if (config.backbone === "pretrained") return baseParams(config).map((p) => p.name);
  const names = config.backbone === "lm" ? ["embed", "pos_embed"] : ["pos_embed"];
  for (let i = 0; i < config.depth; i++) {
    for (const norm of ["ln1", "ln2"]) names.push(`blocks.${i}.${norm}.weight`, `blocks.${i}.${norm}.bias`);
  }
  names.push("norm.weight", "norm.bias");
  for (const m of linearModules(config)) {
    names.push(`${m.path}.weight`);
    if (m.bias) names.push(`${m.path}.bias`);
  }
  return names;
}

/** A PEFT adapter folded into a loaded checkpoint's weights (for generation with `--adapter`). */
import type { AdapterFolder } from "../../adapters/adapter_folder.ts";
import { MergeError, mergeLora } from "../../adapters/merge.ts";
import type { Pretrained } from "./checkpoint.ts";

/**
 * Returns the checkpoint with each LoRA merged into its weight (W + s B A, in float64, rounded once) and
 * each `modules_to_save` weight replacing the base's. `dir` names the adapter in errors. A gated pair has
 * no single merged model: it is refused (deno task merge --gate G merges one at a fixed gate).
 */
export function applyAdapter(model: Pretrained, folder: AdapterFolder, dir: string): Pretrained {
  const gated = folder.placements.filter((p) => p.gated).map((p) => p.path);
  if (gated.length > 0) {
    throw new MergeError(
      `${dir} is a gated pair (${gated.join(", ")}); merge it at a fixed gate with deno task merge --gate G`,
    );
  }
  const weights = new Map(model.weights);
  folder.placements.forEach((p, i) => {
    const base = weights.get(`${p.path}.weight`);
    if (!base) throw new MergeError(`${dir} adapts "${p.path}", which ${model.dir} does not have`);
    weights.set(`${p.path}.weight`, mergeLora(base, p, folder.weights[i]));
  });
  for (const [name, t] of Object.entries(folder.modules ?? {})) {
    const base = weights.get(name);
    if (!base) throw new MergeError(`${dir} saves "${name}", which ${model.dir} does not have`);
    if (base.length !== t.data.length) {
      throw new MergeError(
        `${dir} saves "${name}" with ${t.data.length} values, ${model.dir} has ${base.length}`,
      );
    }
    weights.set(name, t.data);
  }
  return { ...model, weights };
}

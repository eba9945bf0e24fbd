/** Writes weights back in the Hugging Face layout, as readPretrained() and Hugging Face's loaders read them. */
import { files } from "../../host/files.ts";
import { type Tensor, writeSafetensors } from "../../adapters/safetensors.ts";
import { parseArch, type PretrainedArch } from "./arch.ts";
import { checkpointTensors } from "./tensors.ts";

/**
 * The checkpoint's tensors from mixtune-layout weights: every tensor of the architecture under its Hugging
 * Face name, GPT-2's Conv1D weights transposed back to [in, out]. Extra weights (adapters) are left out.
 */
export function checkpointLayout(
  arch: PretrainedArch,
  weights: ReadonlyMap<string, Float32Array>,
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const t of checkpointTensors(arch)) {
    const w = weights.get(t.name);
    if (!w) throw new Error(`no weight for tensor ${t.name}`);
    const [rows, cols] = t.shape;
    out[t.name] = { shape: t.shape, data: t.conv1d ? transposeBack(w, rows, cols) : w };
  }
  return out;
}

/** Writes `config.json` and `model.safetensors` (float32) into `dir`, creating it. */
export async function writePretrained(
  dir: string,
  config: Record<string, unknown>,
  weights: ReadonlyMap<string, Float32Array>,
): Promise<void> {
  const arch = parseArch(config, `${dir}/config.json`);
  const bytes = writeSafetensors(checkpointLayout(arch, weights), { format: "pt" });
  await files().mkdir(dir);
  await files().writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2) + "\n");
  await files().writeFile(`${dir}/model.safetensors`, bytes);
}

/** [cols, rows] (mixtune's [out, in]) to [rows, cols] (Conv1D's [in, out]). */
function transposeBack(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = data[c * rows + r];
  return out;
}

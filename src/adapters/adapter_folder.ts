/**
 * A stage's adapter folder. Plain LoRA is one PEFT adapter in the folder itself. A gated (PETALface) pair
 * is two PEFT adapters, `hq/` and `lq/`, plus `gate.json` with mixtune's gate settings: the model computes
 * `W x + g hq(x) + (1 - g) lq(x)` with g from the gate. Placements that are not gated appear in both
 * adapters with the same weights, so the blend leaves them as they are.
 */

import { files } from "../host/files.ts";
import type { AdapterWeights } from "./init.ts";
import { loadPeft, type PeftAdapter, PeftError, savePeft } from "./peft.ts";
import type { LoraScale, Placement } from "./placement.ts";
import type { Tensor } from "./safetensors.ts";

/** File of a gated pair's settings. */
export const GATE_FILE = "gate.json";

/** Everything an adapter folder holds. */
export interface AdapterFolder {
  /** Gated or not; in the order of `weights`. */
  placements: Placement[];
  weights: AdapterWeights[];
  scales?: Record<string, LoraScale>;
  modulesToSave?: string[];
  modules?: Record<string, Tensor>;
  baseModel?: string | null;
  taskType?: string | null;
  /** The gate settings (spec, fitted quality scale) of a gated pair, stored in `gate.json`. */
  gate?: Record<string, unknown>;
}

const BRANCHES = ["hq", "lq"] as const;

/** Writes the folder: one PEFT adapter, or `hq/`, `lq/` and `gate.json` when some placement is gated. */
export async function saveAdapterFolder(dir: string, folder: AdapterFolder): Promise<void> {
  const { placements, weights, gate, ...rest } = folder;
  const gated = placements.filter((p) => p.gated).map((p) => p.path);
  if (gated.length === 0) {
    await savePeft(dir, { ...rest, placements, weights });
    return;
  }
  if (gate === undefined) throw new PeftError(`gated placements (${gated.join(", ")}) need gate settings`);
  for (const [b, name] of BRANCHES.entries()) {
    await savePeft(`${dir}/${name}`, {
      ...rest,
      placements: placements.map((p) => ({ ...p, gated: false })),
      weights: weights.map((w, i) => ({
        path: w.path,
        branches: [w.branches[placements[i].gated ? b : 0]],
      })),
    });
  }
  const settings = {
    format: "mixtune gated LoRA",
    version: 1,
    output: "W x + g * hq(x) + (1 - g) * lq(x)",
    gated,
    shared: placements.filter((p) => !p.gated).map((p) => p.path),
    ...gate,
  };
  await files().writeTextFile(`${dir}/${GATE_FILE}`, JSON.stringify(settings, null, 2) + "\n");
}

/** Reads a folder written by `saveAdapterFolder`, or any PEFT LoRA adapter folder. */
export async function loadAdapterFolder(dir: string): Promise<AdapterFolder> {
  let text: string | undefined;
  try {
    text = await files().readTextFile(`${dir}/${GATE_FILE}`);
  } catch (e) {
    if (!files().notFound(e)) throw e;
  }
  if (text === undefined) return await loadPeft(dir);
  let settings: Record<string, unknown>;
  try {
    settings = JSON.parse(text);
  } catch (e) {
    throw new PeftError(`${dir}/${GATE_FILE} is not valid JSON: ${(e as Error).message}`);
  }
  const gated = settings.gated;
  if (!Array.isArray(gated) || !gated.every((g) => typeof g === "string")) {
    throw new PeftError(`${dir}/${GATE_FILE}: "gated" must be a list of module paths`);
  }
  const [hq, lq] = [await loadPeft(`${dir}/hq`), await loadPeft(`${dir}/lq`)];
  const paths = (a: PeftAdapter) => a.placements.map((p) => `${p.path} r${p.rank} s${p.scale}`).join(", ");
  if (paths(hq) !== paths(lq)) {
    throw new PeftError(`${dir}: hq/ and lq/ adapt different modules: ${paths(hq)} vs ${paths(lq)}`);
  }
  const missing = gated.filter((g) => !hq.placements.some((p) => p.path === g));
  if (missing.length) throw new PeftError(`${dir}/${GATE_FILE}: gated ${missing.join(", ")} not in hq/`);
  const { format: _f, version: _v, output: _o, gated: _g, shared: _s, ...gate } = settings;
  return {
    ...hq,
    placements: hq.placements.map((p) => ({ ...p, gated: gated.includes(p.path) })),
    weights: hq.weights.map((w, i) => ({
      path: w.path,
      branches: gated.includes(w.path) ? [w.branches[0], lq.weights[i].branches[0]] : w.branches,
    })),
    gate,
  };
}

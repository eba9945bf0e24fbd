/** Shape checks for ViT weights and LoRA sets; every problem is collected before throwing. */

import { linearModules, tokens, type VitConfig } from "../models/config.ts";
import { ExportError } from "./errors.ts";
import type { HostTensor, LoraSet, Weights } from "./types.ts";

/** The shape of every ViT parameter, by name. */
export function vitParameterShapes(config: VitConfig): Record<string, number[]> {
  const d = config.dim;
  const shapes: Record<string, number[]> = { pos_embed: [tokens(config), d] };
  for (const m of linearModules(config)) {
    shapes[`${m.path}.weight`] = [m.out, m.in];
    if (m.bias) shapes[`${m.path}.bias`] = [m.out];
  }
  for (let i = 0; i < config.depth; i++) {
    for (const ln of ["ln1", "ln2"]) {
      shapes[`blocks.${i}.${ln}.weight`] = [d];
      shapes[`blocks.${i}.${ln}.bias`] = [d];
    }
  }
  shapes["norm.weight"] = [d];
  shapes["norm.bias"] = [d];
  return shapes;
}

const fmt = (shape: number[]): string => `[${shape.join(", ")}]`;

function checkTensor(where: string, t: HostTensor | undefined, expected: number[], problems: string[]): void {
  if (t === undefined) {
    problems.push(`${where}: missing, expected shape ${fmt(expected)}`);
    return;
  }
  if (t.shape.length !== expected.length || t.shape.some((s, i) => s !== expected[i])) {
    problems.push(`${where}: expected shape ${fmt(expected)}, found ${fmt(t.shape)}`);
  }
  const size = expected.reduce((a, b) => a * b, 1);
  if (t.data.length !== size && t.shape.every((s, i) => s === expected[i])) {
    problems.push(`${where}: shape ${fmt(expected)} needs ${size} values, found ${t.data.length}`);
  }
}

/** Throws an ExportError listing every missing, unexpected or misshapen ViT parameter. */
export function validateVitWeights(config: VitConfig, weights: Weights): void {
  if (config.image % config.patch !== 0) {
    throw new ExportError(`vit config: image ${config.image} is not a multiple of patch ${config.patch}`);
  }
  if (config.dim % config.heads !== 0) {
    throw new ExportError(`vit config: dim ${config.dim} is not a multiple of heads ${config.heads}`);
  }
  const shapes = vitParameterShapes(config);
  const problems: string[] = [];
  for (const [name, shape] of Object.entries(shapes)) {
    checkTensor(`weights["${name}"]`, weights[name], shape, problems);
  }
  for (const name of Object.keys(weights)) {
    if (!(name in shapes)) problems.push(`weights["${name}"]: not a parameter of this ViT`);
  }
  if (problems.length > 0) throw new ExportError(`invalid ViT weights:\n  ${problems.join("\n  ")}`);
}

/** Throws an ExportError listing every LoRA module with an unknown path or misshapen factors. */
export function validateLora(config: VitConfig, lora: LoraSet): void {
  const modules = new Map(linearModules(config).map((m) => [m.path, m]));
  const problems: string[] = [];
  for (const [path, l] of Object.entries(lora)) {
    const m = modules.get(path);
    if (m === undefined) {
      problems.push(`lora["${path}"]: no such linear module (known: ${[...modules.keys()].join(", ")})`);
      continue;
    }
    if (!Number.isFinite(l.scale)) {
      problems.push(`lora["${path}"].scale: expected a finite number, found ${l.scale}`);
    }
    const r = l.A1.shape[0] ?? 0;
    checkTensor(`lora["${path}"].A1`, l.A1, [r, m.in], problems);
    checkTensor(`lora["${path}"].B1`, l.B1, [m.out, r], problems);
    if ((l.A2 === undefined) !== (l.B2 === undefined)) {
      problems.push(`lora["${path}"]: A2 and B2 must be given together (gated) or both left out (plain)`);
    } else if (l.A2 !== undefined && l.B2 !== undefined) {
      const r2 = l.A2.shape[0] ?? 0;
      checkTensor(`lora["${path}"].A2`, l.A2, [r2, m.in], problems);
      checkTensor(`lora["${path}"].B2`, l.B2, [m.out, r2], problems);
    }
  }
  if (problems.length > 0) throw new ExportError(`invalid LoRA set:\n  ${problems.join("\n  ")}`);
}

/** True when any module of the set has a second (gated) branch. */
export function isGated(lora: LoraSet): boolean {
  return Object.values(lora).some((l) => l.A2 !== undefined);
}

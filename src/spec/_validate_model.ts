/** Validation of the model configuration. */

import type { ModelConfig, PretrainedConfig } from "../models/config.ts";
import { checkContext } from "../models/pretrained/arch.ts";
import { checkPretrained } from "../models/pretrained/checkpoint.ts";
import { PretrainedError } from "../models/pretrained/errors.ts";
import { type Checker, COUNT, POSITIVE } from "./_checker.ts";
import { messages } from "./messages.ts";
import { joinPath } from "./problem.ts";

const SHAPES = {
  vit: ["image", "patch", "dim", "depth", "heads", "mlpRatio", "embedDim", "classes"],
  lm: ["context", "dim", "depth", "heads", "mlpRatio", "vocab"],
} as const;

/** Checks a model config; returns it only when it is entirely valid (later checks rely on its sizes). */
export function checkModel(check: Checker, value: unknown): ModelConfig | undefined {
  if (value === undefined) {
    check.add("model", messages.noModel());
    return undefined;
  }
  if (isPretrained(value)) return checkPretrainedModel(check, value);
  const variant = check.variant("model", value, SHAPES, true, "backbone");
  if (variant === undefined) return undefined;
  const before = check.problems.length;
  const { fields } = variant;
  const at = (key: string): string => joinPath("model", key);
  for (const key of SHAPES[variant.kind]) {
    if (key === "vocab") check.number(at(key), fields[key], { integer: true, min: 2 }, false);
    else if (key !== "mlpRatio") check.number(at(key), fields[key], COUNT);
  }
  const ratio = check.number(at("mlpRatio"), fields.mlpRatio, POSITIVE);
  if (check.problems.length > before) return undefined;

  const dim = fields.dim as number;
  const heads = fields.heads as number;
  if (dim % heads !== 0) check.add(at("dim"), messages.multipleOf("heads", heads, dim));
  if (ratio !== undefined && !Number.isInteger(dim * ratio)) {
    check.add(at("mlpRatio"), messages.wholeHidden(dim, ratio));
  }
  if (variant.kind === "vit") {
    const image = fields.image as number;
    const patch = fields.patch as number;
    if (image % patch !== 0) check.add(at("image"), messages.multipleOf("patch", patch, image));
  }
  return check.problems.length > before ? undefined : value as ModelConfig;
}

/**
 * A model written as `{ pretrained: DIR, context: N }`, or `{ pretrained: DIR, classes: N }` for a ViT
 * checkpoint (the backbone "pretrained" may be spelled out).
 */
function isPretrained(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return v.backbone === "pretrained" || (v.backbone === undefined && "pretrained" in v);
}

/**
 * Checks the fields, then the folder (config.json and weight headers): its problems point at
 * `model.pretrained`. A language model needs `context`, a ViT `classes` (its pipeline head's).
 */
function checkPretrainedModel(check: Checker, value: Record<string, unknown>): PretrainedConfig | undefined {
  const before = check.problems.length;
  check.record("model", value, ["backbone", "pretrained", "context", "classes"]);
  const at = (key: string): string => joinPath("model", key);
  if (typeof value.pretrained !== "string" || value.pretrained === "") {
    check.add(at("pretrained"), messages.expected("a checkpoint folder path", value.pretrained));
  }
  if (check.problems.length > before) return undefined;
  const dir = value.pretrained as string;
  let vit = false;
  try {
    const { arch, config } = checkPretrained(dir);
    vit = arch.family === "vit";
    const [needed, unused] = vit ? ["classes", "context"] : ["context", "classes"];
    check.number(at(needed), value[needed], COUNT);
    if (value[unused] !== undefined) {
      check.add(at(unused), messages.notForCheckpoint(unused, `${dir}/config.json`, arch.family));
    }
    if (!vit && typeof value.context === "number") {
      try {
        checkContext(arch, value.context as number, config, `${dir}/config.json`);
      } catch (e) {
        if (!(e instanceof PretrainedError)) throw e;
        check.add(at("context"), e.message);
      }
    }
  } catch (e) {
    if (!(e instanceof PretrainedError)) throw e;
    check.add(at("pretrained"), e.message);
  }
  if (check.problems.length > before) return undefined;
  return vit
    ? { backbone: "pretrained", pretrained: dir, classes: value.classes as number }
    : { backbone: "pretrained", pretrained: dir, context: value.context as number };
}

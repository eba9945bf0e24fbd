/** Validation of the model configuration. */

import type { ModelConfig } from "../models/config.ts";
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

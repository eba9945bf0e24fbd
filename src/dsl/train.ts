/** Builders for stages and what a train stage is made of: adapters, gates, losses and the optimizer. */

import type {
  AdapterSpec,
  EvaluateStage,
  ExportStage,
  GateMappingSpec,
  GateScoreSpec,
  GateSpec,
  LossSpec,
  OptimizerSpec,
  StartFolder,
  TrainStage,
} from "../spec/types.ts";
import type { MixOf } from "./mix.ts";

/** Options of `train`: a train stage without its kind, with `from` and the mix domains kept as literal types. */
export type TrainOptions<F extends string, M extends string> =
  & Omit<TrainStage, "kind" | "from" | "dependsOn" | "mix">
  & { from?: F | StartFolder; mix: MixOf<M> };

/** A train stage whose `from` and mix domains the pipeline builder checks against its names. */
export type TrainOf<F extends string, M extends string> = TrainStage & {
  from?: F | StartFolder;
  mix: MixOf<M>;
};

/**
 * A training stage: a mix of domains, what to train (adapters and/or `trainable` patterns), loss, optimizer.
 *
 * @example
 * ```ts
 * import { adamw, cosface, lora, temperature, train } from "./mod.ts";
 * const finetune = train({
 *   from: "pretrain",
 *   mix: temperature(["lr"]),
 *   adapters: [lora(["blocks.*.attn.qkv", "feature"], { rank: 8, dropout: 0.1 })],
 *   trainable: ["head"],
 *   loss: cosface(),
 *   optimizer: adamw({ lr: 5e-4, weightDecay: 0.1 }),
 *   steps: 200,
 *   batch: 64,
 * });
 * console.log(finetune.kind); // "train"
 * ```
 */
export function train<const F extends string = never, const M extends string = string>(
  options: TrainOptions<F, M>,
): TrainOf<F, M> {
  return { kind: "train", ...options };
}

/** Options of `evaluate`. */
export type EvaluateOptions<F extends string> = Omit<EvaluateStage, "kind" | "from" | "dependsOn"> & {
  from: F;
};

/**
 * Evaluates a train stage: `evaluate({ from: "ft", tasks: ["recognition"], domains: ["hr", "lr"] })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluate } from "../../mod.ts";
 * assert.deepEqual(evaluate({ from: "ft", tasks: ["validation_loss"] }), {
 *   kind: "evaluate",
 *   from: "ft",
 *   tasks: ["validation_loss"],
 * });
 * ```
 */
export function evaluate<const F extends string>(options: EvaluateOptions<F>): EvaluateStage & { from: F } {
  return { kind: "evaluate", ...options };
}

/**
 * Exports a train stage as ONNX: plain adapters merged into the weights, gated ones kept as two branches with the gate as an input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exportOnnx } from "../../mod.ts";
 * assert.deepEqual(exportOnnx({ from: "ft" }), { kind: "export", format: "onnx", from: "ft" });
 * ```
 */
export function exportOnnx<const F extends string>(
  options: { from: F; opset?: number },
): ExportStage & { from: F } {
  return { kind: "export", format: "onnx", ...options };
}

/** Options of `lora` besides its targets. */
export type LoraOptions = Omit<AdapterSpec, "targets">;

/**
 * LoRA on the linear layers matched by `targets`: `lora("blocks.*.attn.qkv", { rank: 8 })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lora } from "../../mod.ts";
 * assert.deepEqual(lora("blocks.*.attn.qkv", { rank: 8 }), { targets: "blocks.*.attn.qkv", rank: 8 });
 * ```
 */
export function lora(targets: string | readonly string[], options: LoraOptions): AdapterSpec {
  return { targets: typeof targets === "string" ? targets : [...targets], ...options };
}

/**
 * A quality gate: a per-example score and its mapping to the weight of the "hq" branch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gate, sharpness } from "../../mod.ts";
 * const g = gate(sharpness(["hr"]), { kind: "hard", threshold: 0.5 });
 * assert.deepEqual(g.mapping, { kind: "hard", threshold: 0.5 });
 * ```
 */
export function gate(score: GateScoreSpec, mapping: GateMappingSpec): GateSpec {
  return { score, mapping };
}

/**
 * Image sharpness normalised over the `reference` domains (Laplacian variance by default).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sharpness } from "../../mod.ts";
 * assert.deepEqual(sharpness(["hr", "lr"]), { kind: "sharpness", measure: "laplacian", reference: ["hr", "lr"] });
 * ```
 */
export function sharpness(
  reference: readonly string[],
  measure: "laplacian" | "gradient" = "laplacian",
): GateScoreSpec {
  return { kind: "sharpness", measure, reference: [...reference] };
}

/**
 * PETALface's gate: sharpness normalised over the `reference` domains, mapped by
 * g = 0.5 + (score - threshold), clamped to [0, 1]; `clamp: false` reproduces the released code, which
 * does not clamp.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { petalfaceGate } from "../../mod.ts";
 * const g = petalfaceGate({ threshold: 0.5, reference: ["hr", "lr"] });
 * assert.deepEqual(g.mapping, { kind: "petalface", threshold: 0.5 });
 * ```
 */
export function petalfaceGate(options: {
  threshold: number;
  reference: readonly string[];
  measure?: "laplacian" | "gradient";
  clamp?: boolean;
}): GateSpec {
  return gate(sharpness(options.reference, options.measure), {
    kind: "petalface",
    threshold: options.threshold,
    ...(options.clamp === undefined ? {} : { clamp: options.clamp }),
  });
}

/**
 * The language-modelling loss: next-byte cross-entropy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lmLoss } from "../../mod.ts";
 * assert.deepEqual(lmLoss(), { kind: "lm" });
 * ```
 */
export function lmLoss(): LossSpec {
  return { kind: "lm" };
}

/**
 * Plain softmax cross-entropy over the cosine head's logits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { softmax } from "../../mod.ts";
 * assert.deepEqual(softmax(), { kind: "softmax" });
 * ```
 */
export function softmax(): LossSpec {
  return { kind: "softmax" };
}

/**
 * CosFace: s * (cos(theta_y) - m) for the true class; PETALface's defaults s = 64, m = 0.4.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cosface } from "../../mod.ts";
 * assert.deepEqual(cosface({ scale: 16 }), { kind: "cosface", scale: 16, margin: 0.4 });
 * ```
 */
export function cosface(options: { scale?: number; margin?: number } = {}): LossSpec {
  return { kind: "cosface", scale: options.scale ?? 64, margin: options.margin ?? 0.4 };
}

/**
 * ArcFace: s * cos(theta_y + m) for the true class; PETALface's defaults s = 64, m = 0.5.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arcface } from "../../mod.ts";
 * assert.deepEqual(arcface(), { kind: "arcface", scale: 64, margin: 0.5 });
 * ```
 */
export function arcface(options: { scale?: number; margin?: number } = {}): LossSpec {
  return { kind: "arcface", scale: options.scale ?? 64, margin: options.margin ?? 0.5 };
}

/**
 * AdamW; unset options take the spec defaults (weight decay 0.01, betas [0.9, 0.999], no clipping).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamw } from "../../mod.ts";
 * assert.deepEqual(adamw({ lr: 1e-3, clip: 1 }), { kind: "adamw", lr: 1e-3, clip: 1 });
 * ```
 */
export function adamw(options: Omit<OptimizerSpec, "kind">): OptimizerSpec {
  return { kind: "adamw", ...options };
}

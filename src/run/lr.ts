/** Learning rate at a step: linear warm-up, then constant, linear or cosine decay to 0 at the last step. */
import type { OptimizerSpec } from "../spec/types.ts";

/** The learning rate for 0-based `step` of `steps`. */
export function learningRate(o: OptimizerSpec, step: number, steps: number): number {
  const warmup = o.warmup ?? 0;
  if (step < warmup) return o.lr * (step + 1) / warmup;
  const decay = o.decay ?? "constant";
  if (decay === "constant") return o.lr;
  const span = Math.max(1, steps - warmup);
  const t = Math.min(1, (step - warmup) / span);
  return decay === "linear" ? o.lr * (1 - t) : o.lr * 0.5 * (1 + Math.cos(Math.PI * t));
}

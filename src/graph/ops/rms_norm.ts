/** RMSNorm (Llama, Mistral, Qwen2), composed from primitives so its gradient comes from theirs. */
import { type Node, ShapeError, showShape } from "../node.ts";
import { mul } from "./elementwise.ts";
import { mean } from "./reduce.ts";
import { recip, scale, sqrt, square } from "./unary.ts";

/** x / sqrt(mean(x^2) + eps) * weight over the last axis; weight [d] for x [..., d]. */
export function rmsNorm(x: Node, weight: Node, eps: number): Node {
  const d = x.shape[x.shape.length - 1];
  if (weight.shape.length !== 1 || weight.shape[0] !== d) {
    throw new ShapeError(`rmsNorm: weight ${showShape(weight.shape)} does not fit x ${showShape(x.shape)}`);
  }
  const inv = recip(sqrt(scale(mean(square(x), -1, true), 1, eps)));
  return mul(mul(x, inv), weight);
}

/**
 * The loss of a causal LM: its output projection and the token cross-entropy fused (linearCrossEntropy),
 * so the [tokens, vocabulary] logits are never held, then each example's mean over the tokens it counts.
 */
import type { Node } from "../graph/node.ts";
import { div, mul, sub } from "../graph/ops/elementwise.ts";
import { linearCrossEntropy } from "../graph/ops/linear_cross_entropy.ts";
import { loraDown } from "../graph/ops/lora.ts";
import { softmaxCrossEntropy } from "../graph/ops/cross_entropy.ts";
import { sum } from "../graph/ops/reduce.ts";
import { reshape } from "../graph/ops/reshape.ts";
import { concat } from "../graph/ops/shape.ts";
import { relu, scale } from "../graph/ops/unary.ts";
import type { LinearParts } from "./_linear.ts";

/**
 * Mean token cross-entropy of each example [B] for hidden states [B, T, D] under the projection `head`
 * (weight [V, D], optional bias, LoRA branches) against next-token labels [B, T]. A label of -1
 * (IGNORE_LABEL) marks a position without a target: it adds no loss and no gradient, and the mean divides
 * by the number of the example's other positions (an example with none gets 0). `chunk`: vocabulary rows
 * per chunk (default: sized to the tokens, see lossChunk); `keepLogits`: see linearCrossEntropy (a graph
 * without a backward passes false: kept logits would only cost memory there).
 */
export function lmLoss(
  hidden: Node,
  head: LinearParts,
  labels: Node,
  options: { chunk?: number; keepLogits?: boolean } = {},
): Node {
  const [B, T, D] = hidden.shape;
  const N = B * T;
  const { W, b, branches } = head;
  // LoRA branches add (x A^T s g) B^T: one low-rank term, branches side by side along the rank
  const lowRank = branches.length === 0 ? undefined : {
    a: reshape(concat(branches.map((br) => loraDown(hidden, br)), 2), [N, rank(head)]),
    b: concat(branches.map((br) => br.B), 1),
  };
  const rows = linearCrossEntropy(reshape(hidden, [N, D]), W, reshape(labels, [N]), {
    bias: b,
    lowRank,
    chunk: options.chunk,
    keepLogits: options.keepLogits,
  });
  const sums = sum(reshape(rows.loss, [B, T]), 1);
  const counts = sum(reshape(rows.counted, [B, T]), 1);
  return div(sums, scale(relu(scale(counts, 1, -1)), 1, 1)); // max(count, 1), counts being integers
}

/**
 * Mean token cross-entropy of each example from whole logits [B, T, V] (packed graphs whose variants have
 * their own heads, and the path the fused loss is compared with), with lmLoss's rule for labels of -1: the
 * cross-entropy is taken against label max(l, 0) and multiplied by the mask relu(l + 1) - relu(l) (1 for a
 * class index, 0 for -1), and each example's sum is divided by max(its count of masked-in tokens, 1).
 */
export function unfusedLmLoss(logits: Node, labels: Node, V: number): Node {
  const [B, T] = labels.shape;
  const clamped = relu(labels);
  const counted = sub(relu(scale(labels, 1, 1)), clamped);
  const rows = softmaxCrossEntropy(reshape(logits, [B * T, V]), reshape(clamped, [B * T]), {
    kind: "none",
    scale: 1,
    margin: 0,
  });
  const sums = sum(mul(reshape(rows, [B, T]), counted), 1);
  const counts = sum(counted, 1);
  return div(sums, scale(relu(scale(counts, 1, -1)), 1, 1)); // max(count, 1), counts being integers
}

function rank(head: LinearParts): number {
  return head.branches.reduce((a, br) => a + br.A.shape[0], 0);
}

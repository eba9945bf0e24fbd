/**
 * Per-token positions a language-model graph built with `positions` reads: a batch's own (isolated examples),
 * or 0..T-1 in every row when it brings none (generation, plain windows), which is what such a graph computes
 * without them.
 */
import type { Node } from "../graph/node.ts";
import { plainPositions } from "../data/packing.ts";

/** The values to write into the positions input `node` [B, T]: `given`, or 0..T-1 per row. */
export function positionsFor(node: Node, given?: Float32Array): Float32Array {
  const [B, T] = node.shape;
  if (given === undefined) return plainPositions(B, T);
  if (given.length !== B * T) {
    throw new RangeError(`positions: ${given.length} values do not fill [${B}, ${T}]`);
  }
  return given;
}

/**
 * Activation recomputation: which forward values the backward pass makes again instead of keeping. The
 * forward graph is cut at its checkpoints, the values every later value depends on only through them (in a
 * transformer, the residual stream after each attention and each MLP); the values between two checkpoints
 * are recomputed from the earlier one when the backward pass reaches them, so only checkpoints stay alive
 * from the forward pass to the backward.
 */
import { Node, topo } from "./node.ts";

/**
 * The values to recompute: the op nodes of `outputs`' graph that depend on `source` and lie strictly between
 * two checkpoints. A checkpoint is a node depending on `source` through which every later use of an earlier
 * node depending on `source` passes. Nodes that do not depend on `source` (weights and what is made from them
 * alone) are kept as they are.
 */
export function recomputed(outputs: readonly Node[], source: Node): Set<Node> {
  const order = topo(outputs);
  const position = new Map(order.map((n, i) => [n, i]));
  const live = new Set<Node>([source]);
  for (const n of order) if (n.inputs.some((x) => live.has(x))) live.add(n);
  const lastUse = new Map<Node, number>();
  order.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));
  for (const o of outputs) lastUse.set(o, Infinity);
  const out = new Set<Node>();
  let reach = -1; // the latest use of any earlier node depending on source
  let segment: Node[] = [];
  for (const n of order) {
    if (!live.has(n)) continue;
    const i = position.get(n)!;
    if (reach <= i) {
      // a checkpoint: what lies between it and the previous one is recomputed
      for (const m of segment) out.add(m);
      segment = [];
    } else if (n.role === "op") segment.push(n);
    reach = Math.max(reach, lastUse.get(n) ?? i);
  }
  return out;
}

/**
 * Copies of recomputed nodes, made on first request with their recomputed inputs copied too (so a copy is
 * always made after what it reads, as node ids require), and the node a gradient rule should read for `n`:
 * itself when it reads nothing recomputed, else a copy reading the copies.
 */
export class Recomputation {
  private readonly copies = new Map<Node, Node>();
  constructor(private readonly nodes: ReadonlySet<Node>) {}

  /** `n` as the backward pass reads it. */
  of(n: Node): Node {
    if (!this.nodes.has(n) && !n.inputs.some((x) => this.nodes.has(x))) return n;
    return this.copy(n);
  }

  private copy(n: Node): Node {
    const done = this.copies.get(n);
    if (done) return done;
    const inputs = n.inputs.map((x) => this.nodes.has(x) ? this.copy(x) : x);
    const made = new Node(n.op, inputs, n.shape, n.attrs, n.role, n.name, n.trainable);
    this.copies.set(n, made);
    return made;
  }
}

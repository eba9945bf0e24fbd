/**
 * The buffer plan of a graph, computed without a device: each op's lowering, and which reusable buffer holds
 * each value. A buffer is reused (best fit) once every value in it is dead, so memory follows liveness.
 */
import { type Node, topo } from "../graph/node.ts";
import { type Half, type Lowering, opDef } from "../graph/op.ts";

/** Where every value of a graph lives. */
export interface BufferPlan {
  /** Op nodes in execution order. */
  ops: Node[];
  /** Each op's kernel calls (undefined for views). */
  lowerings: (Lowering | undefined)[];
  /** The node whose storage a view shares (itself for non-views). */
  rootOf: (n: Node) => Node;
  /** Op node -> index of the planned buffer holding it (pinned nodes and views are absent). */
  assigned: Map<Node, number>;
  /** Per op, the planned buffers of its scratch space. */
  scratch: number[][];
  /** Bytes of each planned buffer. */
  sizes: number[];
  /** Sum of planned buffer sizes, each rounded to 16 bytes. */
  bytes: number;
}

/**
 * Plans the buffers of `outputs`; nodes in `pinned` live in fixed places and are never reused. Leaves in
 * `half` are stored in 16 bits (f16 or bf16): only inputs an op lists in `halfInputs` may be one (else this
 * throws).
 */
export function planBuffers(
  outputs: readonly Node[],
  pinned: ReadonlySet<Node>,
  half: ReadonlyMap<Node, Half> = new Map(),
): BufferPlan {
  const ops = topo(outputs).filter((n) => n.role === "op");
  const root = new Map<Node, Node>();
  const rootOf = (n: Node): Node => root.get(n) ?? n;
  for (const n of ops) if (opDef(n.op).view) root.set(n, rootOf(n.inputs[0]));
  const lastUse = new Map<Node, number>();
  ops.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(rootOf(x), i)));
  for (const o of outputs) lastUse.set(rootOf(o), Infinity);

  const sizes: number[] = [];
  const free: number[] = [];
  const take = (bytes: number): number => {
    free.sort((a, b) => sizes[a] - sizes[b]);
    let i = free.findIndex((v) => sizes[v] >= bytes);
    if (i < 0 && free.length) i = free.length - 1;
    const v = i >= 0 ? free.splice(i, 1)[0] : sizes.push(bytes) - 1;
    sizes[v] = Math.max(sizes[v], bytes);
    return v;
  };
  const lowerings = ops.map((n) => {
    const def = opDef(n.op);
    const halves = n.inputs.map((x): Half => half.get(x) ?? false);
    halves.forEach((h, k) => {
      if (h && !(def.halfInputs ?? []).includes(k)) {
        throw new Error(
          `${n.op} ${n.name}: input ${k} (${
            n.inputs[k].name
          }) is stored in 16 bits, which this op cannot read`,
        );
      }
    });
    return def.view ? undefined : def.gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape, halves);
  });
  const assigned = new Map<Node, number>();
  const scratch: number[][] = [];
  ops.forEach((n, i) => {
    if (!opDef(n.op).view && !pinned.has(n)) assigned.set(n, take(n.size * 4));
    scratch[i] = (lowerings[i]?.scratch ?? []).map((floats) => take(floats * 4));
    free.push(...scratch[i]);
    for (const x of new Set(n.inputs.map(rootOf))) {
      if (lastUse.get(x) === i && assigned.has(x)) free.push(assigned.get(x)!);
    }
    if (lastUse.get(n) === undefined && assigned.has(n)) free.push(assigned.get(n)!);
  });
  const bytes = sizes.reduce((a, b) => a + Math.max(16, Math.ceil(b / 16) * 16), 0);
  return { ops, lowerings, rootOf, assigned, scratch, sizes, bytes };
}

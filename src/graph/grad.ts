/** Reverse-mode autodiff over the op graph, using each op's gradient rule. */
import { apply, opDef } from "./op.ts";
import { type Node, topo } from "./node.ts";
import { layerNormDxPlus } from "./ops/layer_norm.ts";
import { Recomputation } from "./recompute.ts";
import { matmulAdd } from "./ops/matmul.ts";

/**
 * Gradients of the scalar `loss` with respect to each of `wrt`, as new graph nodes. Only nodes on a path
 * from `wrt` to `loss` are differentiated, so frozen weights cost nothing. The gradient rules read copies of
 * the nodes in `recompute` (see recompute.ts), made when the backward pass reaches them, not the forward's.
 */
export function gradients(
  loss: Node,
  wrt: readonly Node[],
  recompute: ReadonlySet<Node> = new Set(),
): Map<Node, Node> {
  if (loss.size !== 1) throw new Error(`gradients: loss must be a scalar, found shape [${loss.shape}]`);
  const order = topo([loss]);
  const targets = new Set(wrt);
  const needs = new Set<Node>();
  for (const n of order) {
    if (targets.has(n) || n.inputs.some((i) => needs.has(i))) needs.add(n);
  }
  const again = new Recomputation(recompute);
  const grads = new Map<Node, Node>();
  grads.set(loss, apply("fill", [], { shape: loss.shape, value: 1 }));
  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k];
    const g = grads.get(n);
    if (!g || n.role !== "op" || !n.inputs.some((i) => needs.has(i))) continue;
    const rule = opDef(n.op).grad;
    if (!rule) throw new Error(`op ${n.op} has no gradient rule`);
    // a copy has the same inputs in the same places, so its gradients are those of n's inputs
    const gs = rule(again.of(n), g);
    n.inputs.forEach((input, i) => {
      const gi = gs[i];
      if (!gi || !needs.has(input)) return;
      if (gi.shape.join() !== input.shape.join()) {
        throw new Error(
          `gradient rule of ${n.op} gave shape [${gi.shape}] for input of shape [${input.shape}]`,
        );
      }
      const prev = grads.get(input);
      grads.set(input, prev ? accumulate(prev, gi) : gi);
    });
  }
  const out = new Map<Node, Node>();
  for (const w of wrt) {
    out.set(w, grads.get(w) ?? apply("fill", [], { shape: w.shape, value: 0 }));
  }
  return out;
}

/**
 * prev + gi. A new contribution that is a plain matmul takes prev as the addend of its epilogue, a layer
 * norm's input gradient adds it as it is stored (one kernel instead of two; the same sum of the same two
 * numbers, so the same value).
 */
function accumulate(prev: Node, gi: Node): Node {
  if (gi.op === "matmul" && gi.attrs.block === undefined) {
    const [a, b] = gi.inputs;
    return matmulAdd(a, b, [prev], { transA: gi.attrs.transA === true, transB: gi.attrs.transB === true });
  }
  return layerNormDxPlus(gi, prev) ?? apply("add", [prev, gi]);
}

/** A float64 interpreter of the op graph: the reference every kernel and gradient is checked against. */
import { type Node, showShape, sizeOf, topo } from "./node.ts";
import { opDef } from "./op.ts";

/** Values of `outputs` given values for the graph's inputs and params (by node or by name). */
export function evaluate(
  outputs: readonly Node[],
  feeds: ReadonlyMap<Node | string, Float64Array | Float32Array>,
): Map<Node, Float64Array> {
  const values = new Map<Node, Float64Array>();
  for (const n of topo(outputs)) {
    if (n.role === "input" || n.role === "param") {
      const v = feeds.get(n) ?? feeds.get(n.name);
      if (!v) throw new Error(`no value fed for ${n.role} ${n.name} ${showShape(n.shape)}`);
      if (v.length !== sizeOf(n.shape)) {
        throw new Error(`${n.role} ${n.name}: fed ${v.length} values for shape ${showShape(n.shape)}`);
      }
      values.set(n, Float64Array.from(v));
    } else if (n.role === "const") {
      values.set(n, Float64Array.from(n.attrs.data as Float32Array));
    } else {
      const ins = n.inputs.map((i) => values.get(i)!);
      values.set(n, opDef(n.op).cpu(ins, n.inputs.map((i) => i.shape), n.attrs, n.shape));
    }
  }
  return values;
}

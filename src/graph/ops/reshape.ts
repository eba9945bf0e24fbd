/** reshape: a view with the same elements in the same order; no kernel, no copy. */
import { type Node, type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps } from "../op.ts";

defineOps({
  name: "reshape",
  view: true,
  shape: ([x], attrs) => {
    const to = attrs.shape as Shape;
    if (sizeOf(x) !== sizeOf(to)) {
      throw new ShapeError(`reshape: cannot view ${showShape(x)} as ${showShape(to)}`);
    }
    return to;
  },
  cpu: ([x]) => x.slice(),
  grad: (node, g) => [reshape(g, node.inputs[0].shape)],
});

/** `x` viewed with another shape of the same size. */
export function reshape(x: Node, shape: Shape): Node {
  if (x.shape.join() === shape.join()) return x;
  return apply("reshape", [x], { shape });
}

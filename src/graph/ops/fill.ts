/** fill: a tensor of one value (the seed gradient of a loss, zero gradients). */
import source from "../../../kernels/fill.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, type Shape, sizeOf } from "../node.ts";
import { apply, defineOps } from "../op.ts";

defineOps({
  name: "fill",
  shape: (_, attrs) => attrs.shape as Shape,
  cpu: (_i, _s, attrs, out) => new Float64Array(sizeOf(out)).fill(attrs.value as number),
  grad: () => [],
  gpu: (_, attrs, out) => ({
    calls: [{
      kernel: "fill",
      source,
      params: params([["u32", sizeOf(out)], ["f32", attrs.value as number]]),
      workgroups: grid(sizeOf(out), 256),
      bind: [{ out: true }],
    }],
  }),
});

/** A tensor of `shape` filled with `value`. */
export function fill(shape: Shape, value: number): Node {
  return apply("fill", [], { shape, value });
}

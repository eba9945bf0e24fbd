// Gradient rules of the elementwise, reduction and shape ops against float64 central differences (h = 1e-6),
// on the CPU interpreter. Tolerance 1e-6 relative (the difference quotient itself is good to ~1e-9).
import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { add, div, mul, reluGrad, sub, where } from "../src/graph/ops/elementwise.ts";
import { gather, gatherGrad } from "../src/graph/ops/gather.ts";
import { max, maxGrad, mean, sum, sumAll, sumTo } from "../src/graph/ops/reduce.ts";
import { broadcastTo, concat, copy, pad, slice, transpose } from "../src/graph/ops/shape.ts";
import {
  exp,
  gelu,
  geluErf,
  log,
  neg,
  recip,
  relu,
  scale,
  sqrt,
  square,
  tanh,
} from "../src/graph/ops/unary.ts";
import { gradCheck, randoms } from "./_harness.ts";

const TOL = 1e-6;

function inputs(shapes: Shape[], seed: number, lo = -1, hi = 1): [Node[], Map<Node, Float32Array>] {
  const nodes = shapes.map((s, k) => input(`x${k}`, s));
  return [nodes, new Map(nodes.map((n, k) => [n, randoms(sizeOf(n.shape), seed + k, lo, hi)]))];
}

function check(out: Node, wrt: Node[], feeds: Map<Node, Float32Array>): void {
  const err = gradCheck(out, wrt, feeds);
  assert.ok(err <= TOL, `${out.op} ${out.shape}: relative gradient error ${err}`);
}

Deno.test("add/sub/mul/div() gradients sum over broadcast axes", () => {
  const [[a, b], feeds] = inputs([[3, 1, 4], [2, 1]], 1, 0.5, 2);
  for (const f of [add, sub, mul, div]) {
    check(f(a, b), [a, b], feeds);
    check(f(b, a), [a, b], feeds);
  }
  const [[s, m], fs] = inputs([[], [2, 3]], 3, 0.5, 2);
  check(div(s, m), [s, m], fs);
  check(mul(m, m), [m], fs);
});

Deno.test("unary op gradients", () => {
  const [[x], feeds] = inputs([[3, 5]], 4, -3, 3);
  const [[y], fy] = inputs([[7]], 5, 0.2, 4);
  for (const f of [neg, exp, relu, gelu, geluErf, tanh, square, (v: Node) => scale(v, -1.5, 2)]) {
    check(f(x), [x], feeds);
  }
  for (const f of [log, sqrt, recip]) check(f(y), [y], fy);
});

Deno.test("geluErf() gradient in the tails and near 0", () => {
  const [[x], feeds] = inputs([[9]], 13, -8, 6);
  check(geluErf(x), [x], feeds);
  const [[z], fz] = inputs([[5]], 14, -1e-3, 1e-3);
  check(geluErf(z), [z], fz);
});

Deno.test("where() gradient goes to the chosen side only", () => {
  const [[c, a, b], feeds] = inputs([[2, 3], [3], [2, 1]], 6);
  check(where(relu(c), a, b), [a, b], feeds);
});

Deno.test("sum/mean/max/sumAll/sumTo() gradients", () => {
  const [[x], feeds] = inputs([[3, 4, 5]], 7);
  for (const axis of [0, 1, 2]) {
    check(sum(x, axis), [x], feeds);
    check(mean(x, axis, true), [x], feeds);
    check(max(x, axis), [x], feeds);
  }
  check(sumAll(x), [x], feeds);
  check(sumTo(x, [4, 1]), [x], feeds);
});

Deno.test("shape op gradients: copy, transpose, broadcastTo, slice, pad, concat", () => {
  const [[a, b], feeds] = inputs([[2, 3, 4], [2, 1, 4]], 8);
  check(copy(a), [a], feeds);
  check(transpose(a, [2, 0, 1]), [a], feeds);
  check(broadcastTo(b, [3, 2, 5, 4]), [b], feeds);
  check(slice(a, 1, 1, 3), [a], feeds);
  check(pad(b, 2, 1, 2), [b], feeds);
  check(concat([a, b, a], 1), [a, b], feeds);
});

Deno.test("gather() gradient reaches every repeated row", () => {
  const table = input("table", [5, 3]);
  const idx = input("idx", [2, 4]);
  const feeds = new Map<Node, Float32Array>([[table, randoms(15, 9)], [
    idx,
    Float32Array.of(0, 4, 4, 1, 3, 0, 4, 2),
  ]]);
  check(gather(table, idx), [table], feeds);
});

Deno.test("backward ops are differentiable in their upstream gradient", () => {
  const [[x, g], feeds] = inputs([[3, 4], [3, 4]], 10);
  check(reluGrad(x, g), [g], feeds);
  const [[h], fh] = inputs([[3, 1]], 11);
  check(maxGrad(x, h, 1), [h], new Map([...feeds, ...fh]));
  const idx = input("idx", [3]);
  const [[e], fe] = inputs([[3, 2]], 12);
  check(gatherGrad(idx, e, 4), [e], new Map([...fe, [idx, Float32Array.of(3, 0, 3)]]));
});

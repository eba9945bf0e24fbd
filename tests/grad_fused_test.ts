import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { softmax } from "../src/graph/ops/softmax.ts";
import { layerNorm } from "../src/graph/ops/layer_norm.ts";
import { type CrossEntropyOptions, softmaxCrossEntropy } from "../src/graph/ops/cross_entropy.ts";
import { l2Normalize } from "../src/graph/ops/normalize.ts";
import { attention } from "../src/graph/ops/attention.ts";
import { loraLinear } from "../src/graph/ops/lora.ts";
import { gradCheck, randoms } from "./_harness.ts";

/** float64 central differences (h = 1e-6) agree with these gradients to 1e-7 or better; 1e-6 leaves room. */
const TOL = 1e-6;

/** An input of `shape` with random values in [lo, hi), added to `feeds`. */
function fed(
  feeds: Map<Node, Float32Array>,
  name: string,
  shape: Shape,
  seed: number,
  lo = -1,
  hi = 1,
): Node {
  const x = input(name, shape);
  feeds.set(x, randoms(sizeOf(shape), seed, lo, hi));
  return x;
}

function assertGrad(out: Node, wrt: Node[], feeds: Map<Node, Float32Array>, what: string): void {
  const err = gradCheck(out, wrt, feeds);
  assert.ok(err <= TOL, `${what}: relative error ${err} > ${TOL}`);
}

Deno.test("softmax() gradient matches finite differences, plain and causal", () => {
  for (const [shape, causal] of [[[3, 7], false], [[2, 5, 5], true]] as [Shape, boolean][]) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, "x", shape, 1, -3, 3);
    assertGrad(softmax(x, { causal }), [x], feeds, `softmax causal=${causal}`);
  }
});

Deno.test("layerNorm() gradients match finite differences for x, gamma and beta", () => {
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, "x", [3, 2, 5], 2, -1, 2);
  const gamma = fed(feeds, "gamma", [5], 3, 0.5, 1.5);
  const beta = fed(feeds, "beta", [5], 4);
  assertGrad(layerNorm(x, gamma, beta), [x, gamma, beta], feeds, "layerNorm");
});

Deno.test("softmaxCrossEntropy() gradient matches finite differences for none, CosFace and ArcFace", () => {
  const N = 4, C = 6;
  const kinds: CrossEntropyOptions[] = [
    { kind: "none", scale: 1, margin: 0 },
    { kind: "none", scale: 4, margin: 0 },
    { kind: "cosface", scale: 8, margin: 0.35 },
    { kind: "arcface", scale: 8, margin: 0.5 },
  ];
  for (const options of kinds) {
    const logits = input("logits", [N, C]);
    const labels = input("labels", [N]);
    const values = randoms(N * C, 5, -0.9, 0.9);
    const labelValues = Float32Array.of(0, 5, 2, 3);
    // Label cosines on both sides of ArcFace's switch at cos(pi - 0.5) = -0.878, away from it and from +-1.
    [0.7, -0.95, 0.2, -0.5].forEach((c, r) => values[r * C + labelValues[r]] = c);
    const feeds = new Map([[logits, values], [labels, labelValues]]);
    assertGrad(softmaxCrossEntropy(logits, labels, options), [logits], feeds, options.kind);
  }
});

Deno.test("l2Normalize() gradient matches finite differences, above and below eps", () => {
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, "x", [3, 5], 6);
  assertGrad(l2Normalize(x), [x], feeds, "l2Normalize");
  // Row 0 has norm about 0.1 < eps = 0.5 (divided by eps), row 1 norm about 2.9 (divided by its norm).
  const small = input("small", [2, 3]);
  const feedsSmall = new Map([[small, Float32Array.of(0.05, -0.07, 0.04, 1.5, -2, 1.6)]]);
  assertGrad(l2Normalize(small, 0.5), [small], feedsSmall, "l2Normalize eps");
});

Deno.test("attention() gradient matches finite differences, plain and causal", () => {
  for (const causal of [false, true]) {
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, "qkv", [2, 3, 12], 7, -2, 2);
    assertGrad(attention(qkv, { heads: 2, causal }), [qkv], feeds, `attention causal=${causal}`);
  }
});

Deno.test("loraLinear() gradients match finite differences for x, both branches and the gate", () => {
  for (const xShape of [[2, 3, 5], [3, 5]] as Shape[]) {
    const feeds = new Map<Node, Float32Array>();
    const x = fed(feeds, "x", xShape, 8);
    const W = fed(feeds, "W", [4, 5], 9);
    const b = fed(feeds, "b", [4], 10);
    const [A1, B1, A2, B2] = [
      fed(feeds, "A1", [2, 5], 11),
      fed(feeds, "B1", [4, 2], 12),
      fed(feeds, "A2", [2, 5], 13),
      fed(feeds, "B2", [4, 2], 14),
    ];
    const gate = fed(feeds, "gate", [xShape[0]], 15, 0.2, 0.9);
    const y = loraLinear(x, W, b, [
      { A: A1, B: B1, scale: 0.5, gate },
      { A: A2, B: B2, scale: 0.5, gate, gateComplement: true },
    ]);
    assertGrad(y, [x, A1, B1, A2, B2, gate], feeds, `loraLinear x ${xShape}`);
  }
});

Deno.test("loraLinear() and attention() reject mismatched shapes with both shapes in the message", () => {
  const x = input("x", [2, 5]);
  const W = input("W", [4, 5]);
  assert.throws(
    () => loraLinear(x, W, undefined, [{ A: input("A", [2, 6]), B: input("B", [4, 2]), scale: 1 }]),
    {
      name: "ShapeError",
      message:
        "loraLinear: branch 0 needs A [rank, 5] and B [4, rank] for weight [4,5], found A [2,6] and B [4,2]",
    },
  );
  const lora = { A: input("A", [2, 5]), B: input("B", [4, 2]), scale: 1, gate: input("g", [3]) };
  assert.throws(() => loraLinear(x, W, undefined, [lora]), {
    name: "ShapeError",
    message: "loraLinear: branch 0 gate must have shape [2] (one per example of x [2,5]), found [3]",
  });
  assert.throws(() => attention(input("qkv", [2, 3, 12]), { heads: 5, causal: false }), {
    name: "ShapeError",
    message: "attention: 5 heads do not divide the width d = 4 of qkv [2,3,12]",
  });
});

Deno.test("softmax(), layerNorm() and softmaxCrossEntropy() reject bad shapes and options with actionable messages", () => {
  assert.throws(() => softmax(input("s", [2, 3, 4]), { causal: true }), {
    name: "ShapeError",
    message: "softmax: causal needs square scores [..., T, T], found [2,3,4]",
  });
  assert.throws(() => layerNorm(input("x", [2, 5]), input("g", [4]), input("b", [5])), {
    name: "ShapeError",
    message: "layerNorm: gamma must have shape [5] for input [2,5], found [4]",
  });
  const logits = input("logits", [3, 4]);
  assert.throws(() => softmaxCrossEntropy(logits, input("l", [4]), { kind: "none", scale: 1, margin: 0 }), {
    name: "ShapeError",
    message: "softmaxCrossEntropy: expects logits [N, C] and labels [N], found logits [3,4] and labels [4]",
  });
  const labels = input("labels", [3]);
  const bad = { kind: "sphereface", scale: 1, margin: 0 } as unknown as CrossEntropyOptions;
  assert.throws(() => softmaxCrossEntropy(logits, labels, bad), {
    name: "RangeError",
    message: 'softmaxCrossEntropy: kind must be "none", "cosface" or "arcface", found "sphereface"',
  });
  assert.throws(() => softmaxCrossEntropy(logits, labels, { kind: "arcface", scale: 0, margin: 0.5 }), {
    name: "RangeError",
    message: "softmaxCrossEntropy: scale must be a finite number > 0, found 0",
  });
});

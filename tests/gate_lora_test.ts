/**
 * The quality gate of dual LoRA: with g = 1 the gated pair is a single LoRA (the hq branch), gradients reach
 * only branches with a non-zero weight and scale with it, and mapped quality scores keep g in [0, 1].
 */
import assert from "node:assert/strict";
import "../src/graph/ops/mod.ts";
import { type GateMapping, gateValues } from "../src/adapters/gate.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { gradients } from "../src/graph/grad.ts";
import { constant, input, type Node, param, type Shape, sizeOf } from "../src/graph/node.ts";
import { mul } from "../src/graph/ops/elementwise.ts";
import { loraLinear } from "../src/graph/ops/lora.ts";
import { sumAll } from "../src/graph/ops/reduce.ts";
import type { VitConfig } from "../src/models/config.ts";
import { buildModel, loraNames, type LoraPlacement } from "../src/models/graph.ts";
import { randomImages, randomVitWeights } from "./_ref_vit.ts";
import { randoms, relError, testDevice } from "./_harness.ts";

const IN = 7;
const OUT = 6;
const RANK = 3;
const S = 0.75;

/** A gated dual layer, the single hq and lq LoRAs and the bare linear over the same x, W, b, A and B. */
function layers(xShape: Shape) {
  const x = input("x", xShape);
  const W = param("W", [OUT, IN], false);
  const b = param("b", [OUT], false);
  const Ahq = param("A_hq", [RANK, IN], true);
  const Bhq = param("B_hq", [OUT, RANK], true);
  const Alq = param("A_lq", [RANK, IN], true);
  const Blq = param("B_lq", [OUT, RANK], true);
  const gate = input("gate", [xShape[0]]);
  const dual = loraLinear(x, W, b, [
    { A: Ahq, B: Bhq, scale: S, gate },
    { A: Alq, B: Blq, scale: S, gate, gateComplement: true },
  ]);
  const hqOnly = loraLinear(x, W, b, [{ A: Ahq, B: Bhq, scale: S }]);
  const lqOnly = loraLinear(x, W, b, [{ A: Alq, B: Blq, scale: S }]);
  const base = loraLinear(x, W, b, []);
  // A fixed R makes dL/dy = R, independent of the gate.
  const R = constant(randoms(dual.size, 99), dual.shape, "R");
  const loss = sumAll(mul(dual, R));
  return { x, W, b, Ahq, Bhq, Alq, Blq, gate, dual, hqOnly, lqOnly, base, R, loss };
}

type Layers = ReturnType<typeof layers>;

/** Random values for every leaf but the gate; every weight non-zero so a zero gradient means something. */
function leafFeeds(l: Layers): Map<Node, Float32Array> {
  return new Map<Node, Float32Array>(
    [l.x, l.W, l.b, l.Ahq, l.Bhq, l.Alq, l.Blq].map((n, k) => [n, randoms(n.size, 10 + k, 0.1, 1)]),
  );
}

function withGate(feeds: Map<Node, Float32Array>, gate: Node, g: ArrayLike<number>): Map<Node, Float64Array> {
  const out = new Map<Node, Float64Array>([...feeds].map(([n, v]) => [n, Float64Array.from(v)]));
  out.set(gate, Float64Array.from(g));
  return out;
}

/** Asserts bit-for-bit equality (=== per element, so -0 and 0 count as equal). */
function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths`);
  const bad: number[] = [];
  for (let i = 0; i < a.length; i++) if (!(a[i] === b[i])) bad.push(i);
  assert.deepEqual(
    bad,
    [],
    `${what}: ${bad.length} elements differ, first at ${bad[0]}: ${a[bad[0]]} vs ${b[bad[0]]}`,
  );
}

function assertAllZero(a: ArrayLike<number>, what: string): void {
  assertSame(a, new Float64Array(a.length), what);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

const ONES3 = [1, 1, 1];

Deno.test("loraLinear() with g = 1 on every row equals a single LoRA with the hq weights, exactly in float64", () => {
  for (const shape of [[3, IN], [3, 5, IN]]) {
    const l = layers(shape);
    const v = evaluate([l.dual, l.hqOnly, l.lqOnly], withGate(leafFeeds(l), l.gate, ONES3));
    assertSame(v.get(l.dual)!, v.get(l.hqOnly)!, `x ${shape}: dual vs hq`);
    // The lq branch has real weights: the two single LoRAs differ, so the equality above is not vacuous.
    assert.ok(relError(v.get(l.lqOnly)!, v.get(l.hqOnly)!) > 1e-2);
    // g = 0 on every row selects the lq branch the same way.
    const zero = evaluate([l.dual, l.lqOnly], withGate(leafFeeds(l), l.gate, [0, 0, 0]));
    assertSame(zero.get(l.dual)!, zero.get(l.lqOnly)!, `x ${shape}: g = 0 dual vs lq`);
  }
});

Deno.test("loraLinear() g = 1 makes the lq branch's gradients exactly zero, g = 0 the hq branch's", () => {
  for (const shape of [[3, IN], [3, 5, IN]]) {
    const l = layers(shape);
    const wrt = [l.Ahq, l.Bhq, l.Alq, l.Blq];
    const grads = gradients(l.loss, wrt);
    const cases: [number, Node[], Node[]][] = [
      [1, [l.Alq, l.Blq], [l.Ahq, l.Bhq]],
      [0, [l.Ahq, l.Bhq], [l.Alq, l.Blq]],
    ];
    for (const [g, dead, live] of cases) {
      const v = evaluate([...grads.values()], withGate(leafFeeds(l), l.gate, [g, g, g]));
      for (const n of dead) assertAllZero(v.get(grads.get(n)!)!, `g = ${g}, x ${shape}: d${n.name}`);
      for (const n of live) assert.ok(maxAbs(v.get(grads.get(n)!)!) > 1e-2, `g = ${g}: d${n.name} is ~0`);
    }
    // Rows mix: a row with g = 1 adds nothing to the lq gradients, so they equal those of the other rows alone.
    const mixed = evaluate([...grads.values()], withGate(leafFeeds(l), l.gate, [1, 0.4, 1]));
    const Rrow = Float64Array.from(l.R.attrs.data as Float32Array);
    const perRow = Rrow.length / 3;
    Rrow.fill(0, 0, perRow).fill(0, 2 * perRow);
    const masked = sumAll(mul(l.dual, constant(Float32Array.from(Rrow), l.dual.shape, "R1")));
    const gm = gradients(masked, [l.Alq, l.Blq]);
    const only = evaluate([...gm.values()], withGate(leafFeeds(l), l.gate, [1, 0.4, 1]));
    for (const n of [l.Alq, l.Blq]) {
      const e = relError(mixed.get(grads.get(n)!)!, only.get(gm.get(n)!)!);
      assert.ok(e <= 1e-12, `x ${shape}: d${n.name} with rows g = 1 vs row 1 alone: ${e}`);
    }
  }
});

Deno.test("loraLinear() gradients of one example are proportional to g (hq) and 1 - g (lq)", () => {
  // One example of 4 tokens. With L = sum(y * R): dL/dB_hq = s g R^T (x A_hq^T), dL/dA_hq = s g (R B_hq)^T x,
  // and the lq branch the same with 1 - g; R does not depend on g, so each is linear in its weight.
  const l = layers([1, 4, IN]);
  const wrt = [l.Ahq, l.Bhq, l.Alq, l.Blq];
  const grads = gradients(l.loss, wrt);
  const at = (g: number) => {
    const v = evaluate([...grads.values()], withGate(leafFeeds(l), l.gate, [g]));
    return new Map(wrt.map((n) => [n, v.get(grads.get(n)!)!]));
  };
  const lo = at(0.3);
  const hi = at(0.9);
  const close = (a: Float64Array, b: Float64Array, what: string) => {
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
    assert.ok(worst <= 1e-9 * maxAbs(b), `${what}: max difference ${worst} (scale ${maxAbs(b)})`);
  };
  for (const n of [l.Ahq, l.Bhq]) {
    close(
      lo.get(n)!,
      hi.get(n)!.map((v) => v * 0.3 / 0.9),
      `d${n.name}(0.3) vs 0.3/0.9 d${n.name}(0.9)`,
    );
  }
  for (const n of [l.Alq, l.Blq]) {
    close(
      lo.get(n)!,
      hi.get(n)!.map((v) => v * 0.7 / 0.1),
      `d${n.name}(0.3) vs 0.7/0.1 d${n.name}(0.9)`,
    );
  }

  // dB_hq against the closed form s g sum_t R[t, o] (x A_hq^T)[t, r], computed here in float64.
  const f = leafFeeds(l);
  const x = f.get(l.x)!;
  const A = f.get(l.Ahq)!;
  const R = l.R.attrs.data as Float32Array;
  const expected = new Float64Array(OUT * RANK);
  for (let t = 0; t < 4; t++) {
    for (let r = 0; r < RANK; r++) {
      let xa = 0;
      for (let i = 0; i < IN; i++) xa += x[t * IN + i] * A[r * IN + i];
      for (let o = 0; o < OUT; o++) expected[o * RANK + r] += S * 0.3 * R[t * OUT + o] * xa;
    }
  }
  close(lo.get(l.Bhq)!, expected, "dB_hq(0.3) vs s g R^T (x A^T)");
});

Deno.test("gate mappings keep g in [0, 1] for scores far outside, and the layer then blends the two LoRAs", () => {
  const scores = [-40, -3, -0.36, 0, 0.15, 0.4, 0.65, 1, 2.5, 40];
  const mappings: GateMapping[] = [
    { kind: "petalface", threshold: 0.15 },
    { kind: "linear", low: 0.1, high: 0.6 },
    { kind: "sigmoid", center: 0.3, temperature: 0.05 },
    { kind: "threshold", threshold: 0.15 },
  ];
  const petal = gateValues(mappings[0], scores);
  // 0.5 + (score - 0.15), clamped: every score <= -0.35 gives 0, every score >= 0.65 gives 1.
  assert.deepEqual([...petal], [0, 0, 0, 0.35, 0.5, 0.75, 1, 1, 1, 1].map(Math.fround));
  for (const m of mappings) {
    const g = gateValues(m, scores);
    assert.ok(g.every((v) => v >= 0 && v <= 1), `${m.kind}: ${g}`);
  }
  // The released (unclamped) form leaves [0, 1] on the same scores: the clamp is what keeps it there.
  const raw = gateValues({ kind: "petalface", threshold: 0.15, clamp: false }, scores);
  assert.equal(raw[0], Math.fround(-39.65));
  assert.equal(raw[9], Math.fround(40.35));

  // Fed to the layer: rows with g = 0 or 1 are exactly the lq or hq LoRA; others are the blend
  // base + g (hq - base) + (1 - g) (lq - base).
  const B = scores.length;
  const l = layers([B, 2, IN]);
  const v = evaluate([l.dual, l.hqOnly, l.lqOnly, l.base], withGate(leafFeeds(l), l.gate, petal));
  const [dual, hq, lq, base] = [l.dual, l.hqOnly, l.lqOnly, l.base].map((n) => v.get(n)!);
  const row = 2 * OUT;
  for (let e = 0; e < B; e++) {
    const sl = (a: Float64Array) => a.subarray(e * row, (e + 1) * row);
    const g = petal[e];
    if (g === 1) assertSame(sl(dual), sl(hq), `score ${scores[e]}: g = 1`);
    else if (g === 0) assertSame(sl(dual), sl(lq), `score ${scores[e]}: g = 0`);
    const blend = sl(base).map((b0, i) => b0 + g * (sl(hq)[i] - b0) + (1 - g) * (sl(lq)[i] - b0));
    assert.ok(relError(sl(dual), blend) <= 1e-12, `score ${scores[e]}: blend`);
  }
});

Deno.test("loraLinear() on the GPU: g = 1 equals the hq LoRA within 1e-5, lq gradients exactly 0", async () => {
  const device = await testDevice();
  if (!device) return;
  const l = layers([5, 9, IN]);
  const grads = gradients(l.loss, [l.Ahq, l.Bhq, l.Alq, l.Blq]);
  const outputs = [l.dual, l.hqOnly, ...grads.values()];
  const program = await Program.compile(device, outputs, { poison: true });
  try {
    const feeds = leafFeeds(l);
    feeds.set(l.gate, new Float32Array(5).fill(1));
    for (const [n, x] of feeds) program.write(n, x);
    program.run();
    const ref = evaluate(outputs, feeds);
    const dual = await program.read(l.dual);
    assert.ok(
      relError(dual, ref.get(l.hqOnly)!) <= 1e-5,
      `dual vs hq LoRA: ${relError(dual, ref.get(l.hqOnly)!)}`,
    );
    assert.ok(relError(dual, await program.read(l.hqOnly)) <= 1e-5);
    for (const n of [l.Alq, l.Blq]) assertAllZero(await program.read(grads.get(n)!), `GPU d${n.name}`);
    for (const n of [l.Ahq, l.Bhq]) {
      const e = relError(await program.read(grads.get(n)!), ref.get(grads.get(n)!)!);
      assert.ok(e <= 1e-4, `GPU d${n.name} vs float64: ${e}`);
    }
  } finally {
    program.destroy();
  }
});

// The whole model: a gated placement fed g = 1 is the plain placement with the hq weights.
const config: VitConfig = {
  backbone: "vit",
  image: 28,
  patch: 7,
  dim: 16,
  depth: 1,
  heads: 2,
  mlpRatio: 2,
  embedDim: 8,
  classes: 10,
};
const MB = 2;
const placed = [
  { path: "blocks.0.attn.qkv", rank: 2, scale: 0.5 },
  { path: "blocks.0.mlp.fc1", rank: 3, scale: 2 },
  { path: "feature", rank: 2, scale: 1 },
];

Deno.test("buildModel() gated placement with gate = 1 gives the plain placement's embedding and no lq gradient", () => {
  const place = (gated: boolean): LoraPlacement[] => placed.map((p) => ({ ...p, gated }));
  const loss = { kind: "cosface", scale: 16, margin: 0.2 } as const;
  const dual = buildModel(config, { batch: MB, domains: 1, loss, lora: place(true) });
  const plain = buildModel(config, { batch: MB, domains: 1, loss, lora: place(false) });
  const base = new Map<string, Float32Array>(
    Object.entries(randomVitWeights(config, 4)).map(([k, t]) => [k, t.data]),
  );
  base.set("x", randomImages(config, MB, 5));
  base.set("labels", Float32Array.of(3, 7));
  base.set("weights", Float32Array.of(1, 1));
  base.set("domains", Float32Array.of(1, 1));
  const dualFeeds = new Map(base);
  const plainFeeds = new Map(base);
  placed.forEach((p, k) => {
    const shapeA = dual.params.get(loraNames(p.path, "hq").A)!.shape;
    const shapeB = dual.params.get(loraNames(p.path, "hq").B)!.shape;
    const A = randoms(sizeOf(shapeA), 20 + k, -0.5, 0.5);
    const Bm = randoms(sizeOf(shapeB), 30 + k, -0.5, 0.5);
    dualFeeds.set(loraNames(p.path, "hq").A, A);
    dualFeeds.set(loraNames(p.path, "hq").B, Bm);
    dualFeeds.set(loraNames(p.path, "lq").A, randoms(A.length, 40 + k, -0.5, 0.5));
    dualFeeds.set(loraNames(p.path, "lq").B, randoms(Bm.length, 50 + k, -0.5, 0.5));
    plainFeeds.set(loraNames(p.path).A, A);
    plainFeeds.set(loraNames(p.path).B, Bm);
  });
  dualFeeds.set("gate", new Float32Array(MB).fill(1));
  const lq = placed.flatMap((p) => [loraNames(p.path, "lq").A, loraNames(p.path, "lq").B]);
  const hq = placed.flatMap((p) => [loraNames(p.path, "hq").A, loraNames(p.path, "hq").B]);
  const grads = gradients(dual.loss, [...lq, ...hq].map((n) => dual.params.get(n)!));
  const d = evaluate([dual.embedding!, dual.loss, ...grads.values()], dualFeeds);
  const p = evaluate([plain.embedding!, plain.loss], plainFeeds);
  assertSame(d.get(dual.embedding!)!, p.get(plain.embedding!)!, "embedding");
  assertSame(d.get(dual.loss)!, p.get(plain.loss)!, "loss");
  for (const n of lq) assertAllZero(d.get(grads.get(dual.params.get(n)!)!)!, `d${n}`);
  for (const n of hq) assert.ok(maxAbs(d.get(grads.get(dual.params.get(n)!)!)!) > 0, `d${n} is 0`);

  // Not vacuous: with g = 0.5 the lq weights change the embedding.
  dualFeeds.set("gate", new Float32Array(MB).fill(0.5));
  const half = evaluate([dual.embedding!], dualFeeds).get(dual.embedding!)!;
  assert.ok(relError(half, p.get(plain.embedding!)!) > 1e-3);
});

import assert from "node:assert/strict";
import type { AdapterWeights } from "../src/adapters/init.ts";
import { MergeError, mergeLora } from "../src/adapters/merge.ts";
import type { Placement } from "../src/adapters/placement.ts";
import { Rng } from "../src/random.ts";

// awkward sizes: out 5, in 7, rank 3, batch 4
const [OUT, IN, R, BATCH] = [5, 7, 3, 4];
const rng = new Rng(11);
const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

function placement(gated: boolean): Placement {
  return {
    path: "blocks.0.attn.qkv",
    in: IN,
    out: OUT,
    adapter: 0,
    rank: R,
    scale: 0.5,
    gated,
    dropout: 0,
    init: "kaiming",
  };
}

/** y = x M^T in float64, x: [BATCH, IN], M: [OUT, IN]. */
function apply(x: Float32Array, m: ArrayLike<number>): Float64Array {
  const y = new Float64Array(BATCH * OUT);
  for (let b = 0; b < BATCH; b++) {
    for (let o = 0; o < OUT; o++) {
      for (let i = 0; i < IN; i++) y[b * OUT + o] += x[b * IN + i] * m[o * IN + i];
    }
  }
  return y;
}

/** s (x A^T) B^T in float64, the un-merged LoRA branch. */
function branch(x: Float32Array, a: Float32Array, b: Float32Array, s: number): Float64Array {
  const y = new Float64Array(BATCH * OUT);
  for (let n = 0; n < BATCH; n++) {
    const h = new Float64Array(R);
    for (let k = 0; k < R; k++) for (let i = 0; i < IN; i++) h[k] += x[n * IN + i] * a[k * IN + i];
    for (let o = 0; o < OUT; o++) for (let k = 0; k < R; k++) y[n * OUT + o] += s * h[k] * b[o * R + k];
  }
  return y;
}

function maxDiff(a: Float64Array, b: Float64Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

Deno.test("mergeLora() plain: x W'^T equals x W^T + s (x A^T) B^T", () => {
  const w = random(OUT * IN);
  const weights: AdapterWeights = {
    path: "blocks.0.attn.qkv",
    branches: [{ a: random(R * IN), b: random(OUT * R) }],
  };
  const x = random(BATCH * IN);
  const merged = mergeLora(w, placement(false), weights);
  const base = apply(x, w);
  const lora = branch(x, weights.branches[0].a, weights.branches[0].b, 0.5);
  const expected = base.map((v, i) => v + lora[i]);
  // W' is rounded to float32 once per entry (relative 6e-8); 7 products of size ~3 give well under 1e-5
  assert.ok(maxDiff(apply(x, merged), expected) < 1e-5);
  // and the LoRA term is not negligible, so the check can fail
  assert.ok(maxDiff(base, expected) > 0.1);
});

Deno.test("mergeLora() gated: W + s (g B1 A1 + (1 - g) B2 A2) at a fixed g", () => {
  const w = random(OUT * IN);
  const [a1, b1, a2, b2] = [random(R * IN), random(OUT * R), random(R * IN), random(OUT * R)];
  const weights: AdapterWeights = {
    path: "blocks.0.attn.qkv",
    branches: [{ a: a1, b: b1 }, { a: a2, b: b2 }],
  };
  const x = random(BATCH * IN);
  const g = 0.3;
  const merged = mergeLora(w, placement(true), weights, g);
  const hq = branch(x, a1, b1, 0.5 * g);
  const lq = branch(x, a2, b2, 0.5 * (1 - g));
  const expected = apply(x, w).map((v, i) => v + hq[i] + lq[i]);
  assert.ok(maxDiff(apply(x, merged), expected) < 1e-5);
});

Deno.test("mergeLora() needs a gate exactly when the placement is gated", () => {
  const w = new Float32Array(OUT * IN);
  const one = { a: new Float32Array(R * IN), b: new Float32Array(OUT * R) };
  assert.throws(
    () => mergeLora(w, placement(true), { path: "blocks.0.attn.qkv", branches: [one, one] }),
    (e: Error) =>
      e instanceof MergeError &&
      e.message === '"blocks.0.attn.qkv" is gated: merging needs a fixed gate g ' +
          "(W + s (g B1 A1 + (1 - g) B2 A2)), found undefined",
  );
  assert.throws(
    () => mergeLora(w, placement(false), { path: "blocks.0.attn.qkv", branches: [one] }, 0.5),
    (e: Error) => e.message === '"blocks.0.attn.qkv" is plain LoRA: it takes no gate, found 0.5',
  );
  assert.throws(
    () => mergeLora(new Float32Array(3), placement(false), { path: "blocks.0.attn.qkv", branches: [one] }),
    (e: Error) => e.message === '"blocks.0.attn.qkv": base weight has 3 values, expected [5, 7] = 35',
  );
});

/**
 * Attention within segments (per-token positions restarting at 0 at each packed example: a block-diagonal
 * causal mask) and rotary angles at per-token positions, on the GPU against float64 with outputs poisoned,
 * and the backward against finite differences.
 */
import assert from "node:assert/strict";
import { input, type Node, type Shape, sizeOf } from "../src/graph/node.ts";
import { opDef } from "../src/graph/op.ts";
import { attention, attentionGrad } from "../src/graph/ops/attention.ts";
import { rotary, rotaryAngles } from "../src/graph/ops/rotary.ts";
import { Program } from "../src/compile/program.ts";
import { evaluate } from "../src/graph/cpu.ts";
import { gpuVsCpu, gradCheck, randoms, relError, testDevice } from "./_harness.ts";

/**
 * Relative error bound against float64 (relError: relative, floored at 1e-3 of the largest value). Float32 dot
 * products over dh = 99 leave up to 7.7e-7 absolute on outputs of scale 2 (case 5, the same with or without
 * the mask), which the floor turns into 1.5e-4 on an output of 0.0048.
 */
const TOL = 2e-4;

/** Positions [B, T] from segment lengths per row (each row's lengths sum to T): 0, 1, .. within a segment. */
function positionsOf(rows: number[][]): Float32Array {
  return Float32Array.from(
    rows.flatMap((lengths) => lengths.flatMap((n) => Array.from({ length: n }, (_, i) => i))),
  );
}

function fed(feeds: Map<Node, Float32Array>, name: string, shape: Shape, data: Float32Array): Node {
  assert.equal(data.length, sizeOf(shape), name);
  const x = input(name, shape);
  feeds.set(x, data);
  return x;
}

function kernelsOf(n: Node): string[] {
  return opDef(n.op).gpu!(n.inputs.map((x) => x.shape), n.attrs, n.shape).calls.map((c) => c.kernel);
}

// [d, heads, segment lengths per row, kernel]: head lanes for T <= 32 and T dh <= 256, token lanes otherwise;
// vec4 elements when dh divides by 4. Segments of one token, one segment over the whole window, and a last
// segment standing for padding.
const CASES: [number, number, number[][], string][] = [
  [32, 2, [[3, 1, 4], [8], [1, 1, 1, 1, 1, 1, 1, 1]], "attention_head"], // T 8, dh 16: vec4
  [15, 3, [[2, 5, 2], [1, 8]], "attention_head"], // T 9, dh 5: floats
  [8, 2, [[1]], "attention_head"], // one token
  [8, 2, [[10, 1, 20, 6], [37]], "attention"], // T 37: token lanes, vec4
  [72, 2, [[4, 5], [1, 1, 7]], "attention"], // T 9, T dh = 324: token lanes, vec4
  [99, 1, [[1, 3, 2], [6]], "attention"], // T 6, T dh = 594: token lanes, floats
];

Deno.test("segmented attention_core and its gradient match float64 (head and token lanes, vec4 and float)", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [i, [d, heads, rows, kernel]] of CASES.entries()) {
    const B = rows.length;
    const T = rows[0].reduce((a, b) => a + b);
    rows.forEach((r) => assert.equal(r.reduce((a, b) => a + b), T));
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, "qkv", [B, T, 3 * d], randoms(B * T * 3 * d, 30 + i, -2, 2));
    const g = fed(feeds, "g", [B, T, d], randoms(B * T * d, 40 + i));
    const positions = fed(feeds, "positions", [B, T], positionsOf(rows));
    const y = attention(qkv, { heads, causal: true, positions });
    const dqkv = attentionGrad(qkv, g, { heads, causal: true, positions });
    const grad = kernel === "attention" ? ["attention_grad", "attention_grad"] : ["attention_head_grad"];
    assert.deepEqual([kernelsOf(y), kernelsOf(dqkv)], [[kernel], grad]);
    const errs = await gpuVsCpu(device, [y, dqkv], feeds);
    errs.forEach((e, k) => assert.ok(e <= TOL, `case ${i} output ${k}: relative error ${e} > ${TOL}`));

    // the mask is real: every token after a segment's start differs from what plain causal attention gives
    const free = attention(qkv, { heads, causal: true });
    const masked = evaluate([y], feeds).get(y)!;
    const unmasked = evaluate([free], feeds).get(free)!;
    const pos = feeds.get(positions)!;
    for (let t = 0; t < B * T; t++) {
      const row = masked.subarray(t * d, (t + 1) * d), whole = unmasked.subarray(t * d, (t + 1) * d);
      const starts = pos[t] !== t % T; // this token's example starts after the row's first token
      assert.equal(row.some((v, c) => v !== whole[c]), starts, `case ${i}, token ${t}`);
    }
  }
});

Deno.test("positions 0..T-1 give plain causal attention bit for bit on the GPU, forward and backward", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const [B, T, d, heads] of [[2, 8, 32, 2], [2, 37, 8, 2]]) {
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, "qkv", [B, T, 3 * d], randoms(B * T * 3 * d, 5, -2, 2));
    const g = fed(feeds, "g", [B, T, d], randoms(B * T * d, 6));
    const positions = fed(feeds, "positions", [B, T], positionsOf(Array.from({ length: B }, () => [T])));
    const outs = [
      attention(qkv, { heads, causal: true }),
      attentionGrad(qkv, g, { heads, causal: true }),
      attention(qkv, { heads, causal: true, positions }),
      attentionGrad(qkv, g, { heads, causal: true, positions }),
    ];
    const program = await Program.compile(device, outs, { poison: true });
    for (const [n, v] of feeds) program.write(n, v);
    program.run();
    const [y, dy, ys, dys] = await Promise.all(outs.map((o) => program.read(o)));
    program.destroy();
    assert.ok(y.every(Number.isFinite) && dy.every(Number.isFinite), `T ${T}: finite`);
    assert.deepEqual([ys, dys], [y, dy], `T ${T}`);
  }
});

Deno.test("segmented attention_core_grad is the gradient of attention_core (finite differences, float64)", () => {
  for (const [rows, heads, d] of [[[[2, 1, 3], [6]], 5, 15], [[[1, 1, 4], [3, 3]], 2, 8]] as const) {
    const B = rows.length, T = 6;
    const feeds = new Map<Node, Float32Array>();
    const qkv = fed(feeds, "qkv", [B, T, 3 * d], randoms(B * T * 3 * d, 7, -2, 2));
    const positions = fed(feeds, "positions", [B, T], positionsOf(rows.map((r) => [...r])));
    const err = gradCheck(attention(qkv, { heads, causal: true, positions }), [qkv], feeds);
    assert.ok(err <= 1e-6, `relative error ${err}`);
  }
});

Deno.test("per-token positions need causal attention and a [B, T] shape", () => {
  const qkv = input("qkv", [2, 3, 12]);
  assert.throws(() => attention(qkv, { heads: 2, causal: false, positions: input("p", [2, 3]) }), {
    name: "ShapeError",
    message: "attention: per-token positions need causal attention",
  });
  assert.throws(() => attention(qkv, { heads: 2, causal: true, positions: input("p", [3, 2]) }), {
    name: "ShapeError",
    message: "attention: positions [3,2] do not match [B, T] = [2, 3] of qkv [2,3,12]",
  });
});

Deno.test("rotary at per-token positions matches pairwise rotation in float64 and on the GPU", async () => {
  const device = await testDevice();
  const B = 2, T = 7, H = 3, dh = 6, theta = 100;
  const rows = [[3, 4], [1, 1, 5]];
  const feeds = new Map<Node, Float32Array>();
  const x = fed(feeds, "x", [B, T, H, dh], randoms(B * T * H * dh, 3, -2, 2));
  const positions = fed(feeds, "positions", [B, T], positionsOf(rows));
  const y = rotary(x, theta, rotaryAngles(B, T, dh, theta, positions));
  // independent reference: pair (i, i + dh/2) of token t rotated by angle position(t) * theta^(-2i/dh), its
  // cos and sin rounded to float32 as the op's tables store them
  const xs = feeds.get(x)!, pos = feeds.get(positions)!;
  const want = new Float64Array(xs.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * dh;
        for (let i = 0; i < dh / 2; i++) {
          const a = pos[b * T + t] * theta ** (-(2 * i) / dh);
          const x1 = xs[base + i], x2 = xs[base + i + dh / 2];
          const c = Math.fround(Math.cos(a)), z = Math.fround(Math.sin(a));
          want[base + i] = x1 * c - x2 * z;
          want[base + i + dh / 2] = x2 * c + x1 * z;
        }
      }
    }
  }
  const cpu = evaluate([y], feeds).get(y)!;
  assert.ok(relError(cpu, want) <= 1e-12, `float64 interpreter: ${relError(cpu, want)}`);
  if (!device) return;
  // two float32 products of magnitude up to 2 summed: ~5e-7 absolute, up to 1.7e-4 under the 1e-3 floor
  const [err] = await gpuVsCpu(device, [y], feeds);
  assert.ok(err <= 1e-4, `GPU: relative error ${err}`);
});

/**
 * Multi-head self-attention from a fused qkv projection as one fused op (`attention_core`) with a fused
 * backward (`attention_core_grad`): q, k and v are read in place from qkv, so no head split, transpose,
 * slice or scores tensor is materialised (bench/NOTES.md, lever 4). With per-token positions (examples packed
 * into one window, positions restarting at 0 at each) a causal query t sees keys t - position(t)..t only: the
 * block-diagonal causal mask of its own example.
 */
import { withTextures } from "./_textured.ts";
import prefix from "../../../kernels/_attention.wgsl" with { type: "text" };
import forwardBody from "../../../kernels/attention.wgsl" with { type: "text" };
import gradBody from "../../../kernels/attention_grad.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Attrs, type Node, type Shape, ShapeError, showShape } from "../node.ts";
import { apply, defineOps, type KernelCall } from "../op.ts";
import { headForward, headGrad } from "./_attention_head.ts";

/** Options of `attention`. */
export interface AttentionOptions {
  heads: number;
  /** Each token attends to itself and earlier tokens only (language models). */
  causal: boolean;
  /**
   * Per-token positions [B, T] (causal only): query t sees keys t - positions[t]..t, so a window of examples
   * whose positions restart at 0 at each gets a block-diagonal causal mask. Unset: every earlier key.
   */
  positions?: Node;
}

/** [B, T, d, dh] of qkv [B, T, 3d] split into `heads`; throws ShapeError when they do not fit. */
function dims(qkv: Shape, heads: number): [number, number, number, number] {
  if (qkv.length !== 3 || qkv[2] % 3 !== 0) {
    throw new ShapeError(`attention: expects qkv [B, T, 3d], found ${showShape(qkv)}`);
  }
  const [B, T, d3] = qkv;
  const d = d3 / 3;
  if (!Number.isInteger(heads) || heads < 1 || d % heads !== 0) {
    throw new ShapeError(
      `attention: ${heads} heads do not divide the width d = ${d} of qkv ${showShape(qkv)}`,
    );
  }
  return [B, T, d, d / heads];
}

/** Throws unless per-token positions `pos` fit qkv [B, T, 3d] as [B, T] under a causal mask. */
function checkPositions(qkv: Shape, pos: Shape | undefined, attrs: Attrs, op: string): void {
  if (pos === undefined) return;
  if (!attrs.causal) throw new ShapeError(`${op}: per-token positions need causal attention`);
  if (pos.join() !== qkv.slice(0, 2).join()) {
    throw new ShapeError(
      `${op}: positions ${showShape(pos)} do not match [B, T] = [${qkv[0]}, ${qkv[1]}] of qkv ${
        showShape(qkv)
      }`,
    );
  }
}

/** The first key query t of example b sees: 0, or t - positions[b, t] (clamped to [0, t]) when given. */
function keyStart(pos: Float64Array | undefined, T: number, b: number, t: number): number {
  if (pos === undefined) return 0;
  const p = Math.trunc(pos[b * T + t]);
  return t - (p >= 0 ? Math.min(p, t) : 0);
}

/**
 * float64 softmax rows of one (example, head): P[t][j] over the keys t sees (0 for the keys of another example
 * when positions are given), with q, k, v readers. Shared by the forward and backward references.
 */
function headRows(
  qkv: Float64Array,
  qkvShape: Shape,
  attrs: Attrs,
  b: number,
  h: number,
  pos?: Float64Array,
) {
  const [, T, d, dh] = dims(qkvShape, attrs.heads as number);
  const at = (t: number, part: number, c: number) => qkv[(b * T + t) * 3 * d + part * d + h * dh + c];
  const scale = 1 / Math.sqrt(dh);
  const P: number[][] = [];
  for (let t = 0; t < T; t++) {
    const keys = attrs.causal ? t + 1 : T;
    const first = keyStart(pos, T, b, t);
    const s = Array.from({ length: keys }, (_, j) => {
      if (j < first) return -Infinity;
      let dot = 0;
      for (let c = 0; c < dh; c++) dot += at(t, 0, c) * at(j, 1, c);
      return dot * scale;
    });
    const m = Math.max(...s);
    const e = s.map((v) => Math.exp(v - m));
    const z = e.reduce((a, v) => a + v, 0);
    P.push(e.map((v) => v / z));
  }
  return { P, at, T, d, dh, scale };
}

/**
 * Whether a lane owns a whole (example, head) rather than one token: short sequences, whose keys and values
 * fit as plain values (4 T dh floats a lane). Loads dominate on CPU adapters, and such a lane loads each
 * once instead of once per query (bench/NOTES.md, levers 5 and 8). The written-out kernels compile slowly
 * as T dh grows (lavapipe, first use: 1.6 s at 85 floats, 5.8 s at 256, 121 s at 1,024), hence the cap.
 */
function headLanes(T: number, dh: number): boolean {
  return T <= 32 && T * dh <= 256;
}

/**
 * Head-width loops of up to this many elements were unrolled on lavapipe (head width 64 ran right at 2,304
 * positions, where 128 came back wrong from 1,000): longer ones count an iteration an element, and one to exit.
 */
const UNROLLED = 16;

/** The most loop iterations one token lane runs (src/gpu/loop_cap.ts): keys times the work per key. */
export function laneLoops(entry: string, T: number, dh: number): number {
  const dhv = dh % 4 === 0 ? dh / 4 : dh;
  const inner = dhv > UNROLLED ? dhv + 1 : 0;
  // forward: a score and an accumulation per key; grad_q: three passes over the keys (statistics, P and dP,
  // dQ) with two scores and two head-width loops; grad_kv: one head-width loop per query
  if (entry === "grad_q") return T * (3 + 4 * inner) + 2 * inner;
  if (entry === "grad_kv") return T * (1 + inner) + inner;
  return T * (1 + 2 * inner) + 2 * inner;
}

/** The kernels: token lanes (forward, backward) and head lanes (forward, backward, generated per T). */
type Kind = "attention" | "attention_grad" | "attention_head" | "attention_head_grad";

const specialised = new Map<string, string>();

/**
 * The kernel text with its element type and head width set: vec4s when dh divides by 4, else floats. With
 * `positions` (the binding number of a per-token positions input) `key_start` reads them.
 */
function kernelSource(kind: Kind, dh: number, T: number, positions?: number): string {
  const vec = dh % 4 === 0;
  const dhv = vec ? dh / 4 : dh;
  const head = kind === "attention_head" || kind === "attention_head_grad";
  const key = `${kind}:${dh}:${head ? T : ""}:${positions ?? ""}`;
  let text = specialised.get(key);
  if (text === undefined) {
    const lines: [RegExp, string][] = [
      [/^alias V = .*;$/m, `alias V = ${vec ? "vec4f" : "f32"};`],
      [/^const DHV = .*;$/m, `const DHV = ${dhv}u;`],
      [/^fn vdot\(.*$/m, `fn vdot(a: V, b: V) -> f32 { return ${vec ? "dot(a, b)" : "a * b"}; }`],
    ];
    if (positions !== undefined) {
      lines.push([
        /^fn key_start\(.*$/m,
        `@group(0) @binding(${positions}) var<storage, read> pos: array<f32>;\n` +
        "fn key_start(b: u32, t: u32) -> u32 { return t - min(u32(pos[b * p.T + t]), t); }",
      ]);
    }
    const segmented = positions !== undefined;
    const body = kind === "attention"
      ? forwardBody
      : kind === "attention_grad"
      ? gradBody
      : kind === "attention_head"
      ? headForward(T, dhv, segmented)
      : headGrad(T, dhv, segmented);
    text = lines.reduce((s, [line, value]) => {
      if (!line.test(s)) throw new Error(`attention kernel lacks a line matching ${line}`);
      return s.replace(line, value);
    }, prefix) + body;
    specialised.set(key, text);
  }
  return text;
}

/**
 * A call over one lane per (example, head, token), or per (example, head) for the head-lane kernels; `positions`
 * is the op input holding per-token positions, bound after `bind`.
 */
function laneCall(
  kind: Kind,
  entry: string,
  qkv: Shape,
  attrs: Attrs,
  bind: KernelCall["bind"],
  positions?: number,
): KernelCall {
  const [B, T, , dh] = dims(qkv, attrs.heads as number);
  const head = kind === "attention_head" || kind === "attention_head_grad";
  const lanes = B * (attrs.heads as number) * (head ? 1 : T);
  const all = positions === undefined ? bind : [...bind, { in: positions }];
  const source = kernelSource(kind, dh, T, positions === undefined ? undefined : all.length);
  // qkv, and the incoming gradient g of the backward kernels, read from textures where the device prefers it
  const names = kind === "attention" || kind === "attention_head" ? ["qkv"] : ["qkv", "g"];
  return withTextures(
    {
      kernel: kind,
      source,
      entry,
      params: params([
        ["u32", lanes],
        ["u32", T],
        ["u32", attrs.heads as number],
        ["f32", 1 / Math.sqrt(dh)],
        ["u32", attrs.causal ? 1 : 0],
      ]),
      workgroups: grid(lanes, head ? 8 : 64),
      bind: all,
      ...(head ? {} : { loops: laneLoops(entry, T, dh) }),
    },
    names,
    names.map((_, k) => k),
  );
}

defineOps(
  {
    name: "attention_core",
    shape: ([qkv, pos], attrs) => {
      const [B, T, d] = dims(qkv, attrs.heads as number);
      checkPositions(qkv, pos, attrs, "attention");
      return [B, T, d];
    },
    cpu: ([qkv, pos], [s], attrs) => {
      const [B, T, d, dh] = dims(s, attrs.heads as number);
      const out = new Float64Array(B * T * d);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < (attrs.heads as number); h++) {
          const { P, at } = headRows(qkv, s, attrs, b, h, pos);
          for (let t = 0; t < T; t++) {
            for (let c = 0; c < dh; c++) {
              let acc = 0;
              P[t].forEach((p, j) => acc += p * at(j, 2, c));
              out[(b * T + t) * d + h * dh + c] = acc;
            }
          }
        }
      }
      return out;
    },
    grad: (n, g) => [apply("attention_core_grad", [n.inputs[0], g, ...n.inputs.slice(1)], n.attrs), null],
    gpu: ([qkv, pos], attrs) => {
      const [, T, , dh] = dims(qkv, attrs.heads as number);
      const kind = headLanes(T, dh) ? "attention_head" : "attention";
      const positions = pos === undefined ? undefined : 1;
      return { calls: [laneCall(kind, "main", qkv, attrs, [{ in: 0 }, { out: true }], positions)] };
    },
  },
  {
    name: "attention_core_grad",
    shape: ([qkv, g, pos], attrs) => {
      const [B, T, d] = dims(qkv, attrs.heads as number);
      checkPositions(qkv, pos, attrs, "attention_core_grad");
      if (g.join() !== [B, T, d].join()) {
        throw new ShapeError(
          `attention_core_grad: gradient ${
            showShape(g)
          } does not match the output [${B}, ${T}, ${d}] of qkv ${showShape(qkv)}`,
        );
      }
      return qkv;
    },
    cpu: ([qkv, g, pos], [s], attrs) => {
      const [B, T, d, dh] = dims(s, attrs.heads as number);
      const out = new Float64Array(qkv.length);
      const put = (b: number, t: number, part: number, h: number, c: number, v: number) =>
        out[(b * T + t) * 3 * d + part * d + h * dh + c] += v;
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < (attrs.heads as number); h++) {
          const { P, at, scale } = headRows(qkv, s, attrs, b, h, pos);
          const gAt = (t: number, c: number) => g[(b * T + t) * d + h * dh + c];
          for (let i = 0; i < T; i++) {
            // dP_ij = g_i . v_j; dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij)
            const dP = P[i].map((_, j) => {
              let dot = 0;
              for (let c = 0; c < dh; c++) dot += gAt(i, c) * at(j, 2, c);
              return dot;
            });
            const rowsum = P[i].reduce((a, p, j) => a + p * dP[j], 0);
            P[i].forEach((p, j) => {
              const ds = p * (dP[j] - rowsum);
              for (let c = 0; c < dh; c++) {
                put(b, i, 0, h, c, ds * scale * at(j, 1, c));
                put(b, j, 1, h, c, ds * scale * at(i, 0, c));
                put(b, j, 2, h, c, p * gAt(i, c));
              }
            });
          }
        }
      }
      return out;
    },
    gpu: ([qkv, , pos], attrs) => {
      const [B, T, , dh] = dims(qkv, attrs.heads as number);
      const positions = pos === undefined ? undefined : 2;
      if (headLanes(T, dh)) {
        const bind = [{ in: 0 }, { in: 1 }, { out: true }] as const;
        return { calls: [laneCall("attention_head_grad", "main", qkv, attrs, bind, positions)] };
      }
      const blocks = B * (attrs.heads as number) * T * T;
      const bind = [{ in: 0 }, { in: 1 }, { out: true }, { scratch: 0 }, { scratch: 1 }] as const;
      return {
        calls: [
          laneCall("attention_grad", "grad_q", qkv, attrs, bind, positions),
          laneCall("attention_grad", "grad_kv", qkv, attrs, bind, positions),
        ],
        scratch: [blocks, blocks],
      };
    },
  },
);

/**
 * Scaled dot-product attention of qkv [B, T, 3d] (columns [0, d) = q, [d, 2d) = k, [2d, 3d) = v; head j
 * uses columns j*dh..(j+1)*dh of each, dh = d / heads) -> [B, T, d], heads merged back in column order.
 */
export function attention(qkv: Node, options: AttentionOptions): Node {
  const { heads, causal, positions } = options;
  dims(qkv.shape, heads);
  return apply("attention_core", positions ? [qkv, positions] : [qkv], { heads, causal });
}

/** Backward of `attention` given qkv and the output gradient `g` [B, T, d] -> dqkv [B, T, 3d]. */
export function attentionGrad(qkv: Node, g: Node, options: AttentionOptions): Node {
  const inputs = options.positions ? [qkv, g, options.positions] : [qkv, g];
  return apply("attention_core_grad", inputs, { heads: options.heads, causal: options.causal });
}

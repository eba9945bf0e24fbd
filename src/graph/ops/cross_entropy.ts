/** softmaxCrossEntropy: per-row loss of scaled logits with optional CosFace / ArcFace margins, fused. */
import common from "../../../kernels/cross_entropy.wgsl" with { type: "text" };
import lossBody from "../../../kernels/cross_entropy_loss.wgsl" with { type: "text" };
import gradBody from "../../../kernels/cross_entropy_grad.wgsl" with { type: "text" };
import { type Attrs, type Node, type Shape, ShapeError, showShape } from "../node.ts";
import { apply, defineOps } from "../op.ts";
import { rowCall, rowKernel } from "./_rows.ts";

const lossSource = rowKernel(common + lossBody);
const gradSource = rowKernel(common + gradBody);

/** Which logit the label gets: plain, CosFace (cos - m) or ArcFace (cos(theta + m)). */
export type MarginKind = "none" | "cosface" | "arcface";

/** Options of `softmaxCrossEntropy`. */
export interface CrossEntropyOptions {
  kind: MarginKind;
  /** Multiplier s of every logit (1 for plain logits; 30-64 for cosine logits). */
  scale: number;
  /** Additive margin m (cosface: on the cosine; arcface: on the angle, radians); ignored for "none". */
  margin: number;
}

const KINDS: readonly MarginKind[] = ["none", "cosface", "arcface"];
/** ArcFace clamps cosines this far inside [-1, 1] before taking the angle. */
const CLAMP = 1e-7;
const QUIET_NAN_BITS = 0x7fc00000;

function checkShapes(op: string, logits: Shape, labels: Shape): void {
  if (logits.length !== 2 || logits[1] === 0 || labels.length !== 1 || labels[0] !== logits[0]) {
    throw new ShapeError(
      `${op}: expects logits [N, C] and labels [N], found logits ${showShape(logits)} and labels ${
        showShape(labels)
      }`,
    );
  }
}

/** The label's margin logit over s and its derivative with respect to the cosine c (float64 reference). */
function target(c: number, attrs: Attrs): [number, number] {
  const m = attrs.margin as number;
  if (attrs.kind === "cosface") return [c - m, 1];
  if (attrs.kind !== "arcface") return [c, 1];
  if (!(c > Math.cos(Math.PI - m))) return [c - m * Math.sin(Math.PI - m), 1];
  const cc = Math.min(Math.max(c, -1 + CLAMP), 1 - CLAMP);
  const d = cc === c ? Math.cos(m) + cc * Math.sin(m) / Math.sqrt(1 - cc * cc) : 0;
  return [Math.cos(Math.acos(cc) + m), d];
}

/** Row r's label as an index; the float64 reference rejects what the kernels turn into NaN. */
function labelOf(labels: Float64Array, r: number, classes: number): number {
  const l = labels[r];
  if (!(Number.isInteger(l) && l >= 0 && l < classes)) {
    throw new RangeError(
      `softmaxCrossEntropy: label ${l} of row ${r} is not a class index in [0, ${classes})`,
    );
  }
  return l;
}

/** Per row: the adjusted logits z, their max and sum of exp(z - max), and the label's target derivative. */
function rowSoftmax(x: Float64Array, labels: Float64Array, r: number, C: number, attrs: Attrs) {
  const s = attrs.scale as number;
  const y = labelOf(labels, r, C);
  const [t, dt] = target(x[r * C + y], attrs);
  const z = Float64Array.from({ length: C }, (_, j) => j === y ? s * t : s * x[r * C + j]);
  const max = z.reduce((a, b) => Math.max(a, b), -Infinity);
  const sum = z.reduce((a, b) => a + Math.exp(b - max), 0);
  return { y, z, max, sum, dt };
}

function kernelFields(attrs: Attrs): Array<["u32" | "f32", number]> {
  const m = attrs.margin as number;
  return [
    ["u32", KINDS.indexOf(attrs.kind as MarginKind)],
    ["f32", attrs.scale as number],
    ["f32", m],
    ["f32", Math.cos(m)],
    ["f32", Math.sin(m)],
    ["f32", Math.cos(Math.PI - m)],
    ["f32", Math.sin(Math.PI - m) * m],
    ["u32", QUIET_NAN_BITS],
  ];
}

defineOps(
  {
    name: "softmax_cross_entropy",
    shape: ([logits, labels]) => {
      checkShapes("softmaxCrossEntropy", logits, labels);
      return [logits[0]];
    },
    cpu: ([x, labels], [[N, C]], attrs) =>
      Float64Array.from({ length: N }, (_, r) => {
        const { y, z, max, sum } = rowSoftmax(x, labels, r, C, attrs);
        return max + Math.log(sum) - z[y];
      }),
    grad: (
      n,
      g,
    ) => [
      softmaxCrossEntropyGrad(n.inputs[0], n.inputs[1], g, n.attrs as unknown as CrossEntropyOptions),
      null,
    ],
    gpu: ([[N, C]], attrs) => ({
      calls: [
        rowCall(
          "cross_entropy",
          lossSource,
          N,
          C,
          [{ in: 0 }, { in: 1 }, { out: true }],
          kernelFields(attrs),
        ),
      ],
    }),
  },
  {
    name: "softmax_cross_entropy_grad",
    shape: ([logits, labels, g]) => {
      checkShapes("softmax_cross_entropy_grad", logits, labels);
      if (g.join() !== labels.join()) {
        throw new ShapeError(
          `softmax_cross_entropy_grad: gradient ${showShape(g)} does not match [${logits[0]}]`,
        );
      }
      return logits;
    },
    cpu: ([x, labels, g], [[N, C]], attrs) => {
      const s = attrs.scale as number;
      const out = new Float64Array(N * C);
      for (let r = 0; r < N; r++) {
        const { y, z, max, sum, dt } = rowSoftmax(x, labels, r, C, attrs);
        for (let j = 0; j < C; j++) out[r * C + j] = g[r] * s * Math.exp(z[j] - max) / sum;
        out[r * C + y] = g[r] * s * (Math.exp(z[y] - max) / sum - 1) * dt;
      }
      return out;
    },
    gpu: ([[N, C]], attrs) => {
      const bind = [{ in: 0 }, { in: 1 }, { in: 2 }, { out: true }] as const;
      return { calls: [rowCall("cross_entropy_grad", gradSource, N, C, bind, kernelFields(attrs))] };
    },
  },
);

function checkOptions(o: CrossEntropyOptions): void {
  if (!KINDS.includes(o.kind)) {
    throw new RangeError(
      `softmaxCrossEntropy: kind must be "none", "cosface" or "arcface", found "${o.kind}"`,
    );
  }
  if (!(Number.isFinite(o.scale) && o.scale > 0)) {
    throw new RangeError(`softmaxCrossEntropy: scale must be a finite number > 0, found ${o.scale}`);
  }
  if (!(Number.isFinite(o.margin) && o.margin >= 0 && (o.kind !== "arcface" || o.margin < Math.PI))) {
    throw new RangeError(
      `softmaxCrossEntropy: margin must be a finite number >= 0 (below pi for arcface), found ${o.margin}`,
    );
  }
}

/**
 * Per-row softmax cross-entropy [N] of logits [N, C] against integer labels [N] (stored as floats):
 * logsumexp(z) - z_label with z = scale * logits, the label's logit changed by a CosFace or ArcFace margin
 * (logits are then cosines). Labels get no gradient; on the GPU a label outside [0, C) gives a NaN loss.
 */
export function softmaxCrossEntropy(logits: Node, labels: Node, options: CrossEntropyOptions): Node {
  checkOptions(options);
  const margin = options.kind === "none" ? 0 : options.margin;
  return apply("softmax_cross_entropy", [logits, labels], {
    kind: options.kind,
    scale: options.scale,
    margin,
  });
}

/** Gradient of softmaxCrossEntropy with respect to the logits, given the per-row gradient `g` [N]. */
export function softmaxCrossEntropyGrad(
  logits: Node,
  labels: Node,
  g: Node,
  options: CrossEntropyOptions,
): Node {
  const { kind, scale, margin } = options;
  return apply("softmax_cross_entropy_grad", [logits, labels, g], { kind, scale, margin });
}

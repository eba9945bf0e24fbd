/**
 * Rotary position embeddings in the Hugging Face Llama layout: each head's width is split in halves and
 * x -> x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1], angle(t, i) = t theta^(-2i / dh). Position t is
 * the token's index, or its entry in per-token positions (examples packed in one window, restarting at 0).
 */
import { constant, type Node, ShapeError, showShape } from "../node.ts";
import { add, mul } from "./elementwise.ts";
import { gather } from "./gather.ts";
import { reshape } from "./reshape.ts";
import { concat, slice } from "./shape.ts";
import { neg } from "./unary.ts";

/** cos and sin tables [T, dh] for positions 0..T-1 (float64 angles, stored float32). */
export function rotaryTables(T: number, dh: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(T * dh), sin = new Float32Array(T * dh);
  const half = dh / 2;
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * theta ** (-(2 * i) / dh);
      for (const j of [i, i + half]) {
        cos[t * dh + j] = Math.cos(angle);
        sin[t * dh + j] = Math.sin(angle);
      }
    }
  }
  return { cos, sin };
}

/** The cos and sin a rotation multiplies by: [T, 1, dh] constants, or [B, T, 1, dh] per-token rows. */
export interface RotaryAngles {
  cos: Node;
  sin: Node;
}

/**
 * cos and sin of the rotary angles for [B, T] tokens with head width dh: by index (constants), or gathered per
 * token from `positions` [B, T] (integers in [0, T)). One pair serves every layer's q and k.
 */
export function rotaryAngles(
  B: number,
  T: number,
  dh: number,
  theta: number,
  positions?: Node,
): RotaryAngles {
  if (positions && positions.shape.join() !== [B, T].join()) {
    throw new ShapeError(
      `rotary: positions ${showShape(positions.shape)} do not match [B, T] = [${B}, ${T}]`,
    );
  }
  const { cos, sin } = rotaryTables(T, dh, theta);
  const table = (values: Float32Array, name: string): Node =>
    positions
      ? reshape(gather(constant(values, [T, dh], name), positions), [B, T, 1, dh])
      : constant(values, [T, 1, dh], name);
  return { cos: table(cos, "rotary_cos"), sin: table(sin, "rotary_sin") };
}

/**
 * Rotates x [B, T, H, dh] by position with base `theta` (the index on axis 1), or by the given `angles`
 * (see rotaryAngles: per-token positions).
 */
export function rotary(x: Node, theta: number, angles?: RotaryAngles): Node {
  if (x.shape.length !== 4 || x.shape[3] % 2 !== 0) {
    throw new ShapeError(`rotary: expects [B, T, heads, dh] with dh even, found ${showShape(x.shape)}`);
  }
  const [B, T, , dh] = x.shape;
  const { cos: c, sin: s } = angles ?? rotaryAngles(B, T, dh, theta);
  const want = c.shape.length === 4 ? [B, T, 1, dh] : [T, 1, dh];
  if (c.shape.join() !== want.join()) {
    throw new ShapeError(`rotary: angles ${showShape(c.shape)} do not fit x ${showShape(x.shape)}`);
  }
  const rotated = concat([neg(slice(x, 3, dh / 2, dh)), slice(x, 3, 0, dh / 2)], 3);
  return add(mul(x, c), mul(rotated, s));
}

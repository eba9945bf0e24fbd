/**
 * Rotary position embeddings in the Hugging Face Llama layout: each head's width is split in halves and
 * x -> x cos + rotate_half(x) sin, rotate_half(x) = [-x2, x1], angle(t, i) = t theta^(-2i / dh).
 */
import { constant, type Node, ShapeError, showShape } from "../node.ts";
import { add, mul } from "./elementwise.ts";
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

/** Rotates x [B, T, H, dh] by position (axis 1) with base `theta`. */
export function rotary(x: Node, theta: number): Node {
  if (x.shape.length !== 4 || x.shape[3] % 2 !== 0) {
    throw new ShapeError(`rotary: expects [B, T, heads, dh] with dh even, found ${showShape(x.shape)}`);
  }
  const [, T, , dh] = x.shape;
  const { cos, sin } = rotaryTables(T, dh, theta);
  const c = constant(cos, [T, 1, dh], "rotary_cos");
  const s = constant(sin, [T, 1, dh], "rotary_sin");
  const rotated = concat([neg(slice(x, 3, dh / 2, dh)), slice(x, 3, 0, dh / 2)], 3);
  return add(mul(x, c), mul(rotated, s));
}

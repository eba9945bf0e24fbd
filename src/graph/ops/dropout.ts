/**
 * dropout: inverted dropout whose mask is a hash of (seed, salt, element), so the gradient is the same op
 * applied to g, and a run is reproducible from its seed. The seed is a [1] input written every step.
 */
import source from "../../../kernels/dropout.wgsl" with { type: "text" };
import segmentsSource from "../../../kernels/dropout_segments.wgsl" with { type: "text" };
import { grid, params } from "../../gpu/kernels.ts";
import { type Node, ShapeError, showShape, sizeOf } from "../node.ts";
import { apply, defineOps } from "../op.ts";

function mix(v: number): number {
  let h = v >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function threshold(p: number): number {
  return Math.min(0xffffffff, Math.round(p * 2 ** 32));
}

/** Whether element `i` survives dropout with drop probability `p`. */
export function dropoutKeeps(seed: number, salt: number, i: number, p: number): boolean {
  return mix((mix(((seed >>> 0) ^ salt) >>> 0) ^ i) >>> 0) >= threshold(p);
}

defineOps({
  name: "dropout",
  shape: ([x, seed], attrs) => {
    const p = attrs.p as number;
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), found ${p}`);
    if (sizeOf(seed) !== 1) {
      throw new ShapeError(`dropout: the seed must hold one value, found ${showShape(seed)}`);
    }
    return x;
  },
  cpu: ([x, seed], _s, attrs) => {
    const p = attrs.p as number;
    const salt = attrs.salt as number;
    return x.map((v, i) => (dropoutKeeps(seed[0], salt, i, p) ? v / (1 - p) : 0));
  },
  grad: (node, g) => [dropout(g, node.inputs[1], node.attrs.p as number, node.attrs.salt as number), null],
  gpu: ([x], attrs) => {
    const p = attrs.p as number;
    return {
      calls: [{
        kernel: "dropout",
        source,
        params: params([["u32", sizeOf(x)], ["u32", threshold(p)], ["u32", attrs.salt as number], [
          "f32",
          1 / (1 - p),
        ]]),
        workgroups: grid(sizeOf(x), 256),
        bind: [{ in: 0 }, { in: 1 }, { out: true }],
      }],
    };
  },
});

/** `x` with each element zeroed with probability `p` and the rest scaled by 1 / (1 - p). */
export function dropout(x: Node, seed: Node, p: number, salt: number): Node {
  if (p === 0) return x;
  return apply("dropout", [x, seed], { p, salt: salt >>> 0 });
}

defineOps({
  name: "dropout_segments",
  shape: ([x, seeds], attrs) => {
    const p = attrs.p as number;
    if (!(p >= 0 && p < 1)) throw new RangeError(`dropout_segments: p must be in [0, 1), found ${p}`);
    if (seeds.length !== 1 || sizeOf(x) % seeds[0] !== 0) {
      throw new ShapeError(
        `dropout_segments: seeds must be [K] with K dividing the ${sizeOf(x)} elements of x, found ` +
          `${showShape(seeds)}`,
      );
    }
    return x;
  },
  cpu: ([x, seeds], _s, attrs) => {
    const p = attrs.p as number;
    const salt = attrs.salt as number;
    const seg = x.length / seeds.length;
    return x.map((v, i) => {
      const k = Math.floor(i / seg);
      return dropoutKeeps(seeds[k], salt, i - k * seg, p) ? v / (1 - p) : 0;
    });
  },
  grad: (node, g) => [
    dropoutSegments(g, node.inputs[1], node.attrs.p as number, node.attrs.salt as number),
    null,
  ],
  gpu: ([x, seeds], attrs) => {
    const p = attrs.p as number;
    const n = sizeOf(x);
    return {
      calls: [{
        kernel: "dropout_segments",
        source: segmentsSource,
        params: params([
          ["u32", n],
          ["u32", n / seeds[0]],
          ["u32", threshold(p)],
          ["u32", attrs.salt as number],
          ["f32", 1 / (1 - p)],
        ]),
        workgroups: grid(n, 256),
        bind: [{ in: 0 }, { in: 1 }, { out: true }],
      }],
    };
  },
});

/**
 * Dropout of K packed variants: x is K equal segments, segment k masked by seeds[k] with its elements
 * counted from the segment's start, so each variant draws the mask `dropout` draws for it alone.
 */
export function dropoutSegments(x: Node, seeds: Node, p: number, salt: number): Node {
  if (p === 0) return x;
  return apply("dropout_segments", [x, seeds], { p, salt: salt >>> 0 });
}

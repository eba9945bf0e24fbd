/**
 * The largest binding, the largest buffer and the most workgroups of a compiled program, from its buffer
 * plan alone: what a plan holds against a device's limits. Planned buffers and inputs are bound whole;
 * the flat parameter buffers are bound a tensor at a time, except the trainable one, which AdamW binds whole.
 */
import type { Node } from "../graph/node.ts";
import type { BufferPlan } from "./plan.ts";

/** What the limits are checked against. */
export interface Extremes {
  /** Bytes of the largest storage binding. */
  largestBinding: number;
  /** What that binding holds: "activations", "inputs", "frozen parameter wte.weight", ... */
  bindingHolds: string;
  /** Bytes of the largest buffer. */
  largestBuffer: number;
  /** What that buffer holds. */
  largestHolds: string;
  /** The most workgroups any kernel call dispatches along one axis. */
  largestGroups: number;
}

/** One flat parameter buffer: its bytes, and the bytes of its largest binding. */
export interface FlatBuffer {
  holds: string;
  bytes: number;
  binding: number;
  /** The parameter of the largest binding when it is bound a tensor at a time. */
  largest?: string;
}

/** The extremes of a program planned as `plan` with `leaves` (inputs, consts) and flat parameter buffers. */
export function extremesOf(
  plan: BufferPlan,
  leaves: readonly Node[],
  flats: readonly FlatBuffer[],
): Extremes {
  const activations = Math.max(0, ...plan.sizes);
  const inputs = Math.max(0, ...leaves.map((n) => n.size * 4));
  const bindings: [number, string][] = [
    [activations, "activations"],
    [inputs, "inputs"],
    ...flats.map((
      f,
    ): [number, string] => [f.binding, f.largest ? `${f.holds.replace(/s$/, "")} ${f.largest}` : f.holds]),
  ];
  const buffers: [number, string][] = [
    [activations, "activations"],
    [inputs, "inputs"],
    ...flats.map((f): [number, string] => [f.bytes, f.holds]),
  ];
  const top = (xs: [number, string][]) => xs.reduce((a, b) => (b[0] > a[0] ? b : a));
  const [largestBinding, bindingHolds] = top(bindings);
  const [largestBuffer, largestHolds] = top(buffers);
  const groups = plan.lowerings.flatMap((l) => l?.calls.flatMap((c) => c.workgroups) ?? []);
  return { largestBinding, bindingHolds, largestBuffer, largestHolds, largestGroups: Math.max(0, ...groups) };
}

/** The flat buffer of `params` as the store lays it out (256-byte aligned), `bytesPer` bytes an element. */
export function flatBuffer(
  holds: string,
  params: readonly Node[],
  bytesPer: 2 | 4,
  boundWhole: boolean,
): FlatBuffer {
  const per = 256 / bytesPer;
  const bytes = params.reduce((a, p) => a + Math.ceil(p.size / per) * 256, 0);
  if (boundWhole) return { holds, bytes, binding: bytes };
  let largest: Node | undefined;
  for (const p of params) if (!largest || p.size > largest.size) largest = p;
  return { holds, bytes, binding: largest ? largest.size * bytesPer : 0, largest: largest?.name };
}

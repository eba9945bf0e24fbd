/**
 * The largest binding, the largest buffer and the most workgroups of a compiled program, from its buffer
 * plan alone: what a plan holds against a device's limits. Bindings are read from the kernel calls
 * themselves (a call may bind part of a value: the fused loss binds a vocabulary chunk of the weight, gather
 * a piece of the table), so a tensor larger than one binding fits when every kernel reads it in parts.
 * Parameter stores add their buffers: pools of frozen tensors, and the trainable buffer AdamW binds whole.
 */
import type { Node } from "../graph/node.ts";
import type { BindingRef } from "../graph/op.ts";
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

/** The buffers of a parameter store's flat part: its largest buffer, and its binding when bound whole. */
export interface FlatBuffer {
  holds: string;
  /** Bytes of its largest buffer (pooled tensors: the largest tensor, as pools fill up to maxBufferSize). */
  bytes: number;
  /** Bytes of its binding when a kernel binds it whole (AdamW's trainable buffer), else 0. */
  binding: number;
}

/**
 * The extremes of a program planned as `plan` with `leaves` (inputs, consts) and parameter store buffers
 * `flats`; `half` holds the leaves stored in 16 bits (2 bytes an element).
 */
export function extremesOf(
  plan: BufferPlan,
  leaves: readonly Node[],
  flats: readonly FlatBuffer[],
  half: ReadonlyMap<Node, unknown> = new Map(),
): Extremes {
  const bindings: [number, string][] = [[0, "activations"]];
  const bytesOf = (n: Node) => n.size * (half.has(plan.rootOf(n)) ? 2 : 4);
  const bound = (ref: BindingRef, whole: number): number =>
    "buffer" in ref ? 0 : ref.size ?? whole - (ref.offset ?? 0);
  plan.ops.forEach((n, i) => {
    const low = plan.lowerings[i];
    if (!low) return;
    for (const call of low.calls) {
      for (const ref of call.bind) {
        if ("in" in ref) {
          const x = n.inputs[ref.in];
          bindings.push([bound(ref, bytesOf(x)), holderOf(plan.rootOf(x))]);
        } else if ("out" in ref) bindings.push([bound(ref, bytesOf(n)), "activations"]);
        else if ("scratch" in ref) bindings.push([bound(ref, low.scratch![ref.scratch] * 4), "activations"]);
      }
    }
  });
  for (const f of flats) if (f.binding > 0) bindings.push([f.binding, f.holds]);
  const buffers: [number, string][] = [
    [Math.max(0, ...plan.sizes), "activations"],
    [Math.max(0, ...leaves.map((n) => n.size * 4)), "inputs"],
    ...flats.map((f): [number, string] => [f.bytes, f.holds]),
  ];
  const top = (xs: [number, string][]) => xs.reduce((a, b) => (b[0] > a[0] ? b : a));
  const [largestBinding, bindingHolds] = top(bindings);
  const [largestBuffer, largestHolds] = top(buffers);
  const groups = plan.lowerings.flatMap((l) => l?.calls.flatMap((c) => c.workgroups) ?? []);
  return { largestBinding, bindingHolds, largestBuffer, largestHolds, largestGroups: Math.max(0, ...groups) };
}

/** What a bound value is, for messages: a parameter by name, inputs, or activations. */
function holderOf(n: Node): string {
  if (n.role === "param") return `${n.trainable ? "trainable" : "frozen"} parameter ${n.name}`;
  return n.role === "op" ? "activations" : "inputs";
}

/**
 * The store buffer of `params` (256-byte aligned tensors, `bytesPer` bytes an element): bound whole (the
 * trainable buffer, one buffer), or pooled (frozen tensors: buffers filled up to the device's
 * maxBufferSize, so the largest buffer is the largest tensor's as far as the limits go).
 */
export function flatBuffer(
  holds: string,
  params: readonly Node[],
  bytesPer: 2 | 4,
  boundWhole: boolean,
): FlatBuffer {
  const per = 256 / bytesPer;
  const sizes = params.map((p) => Math.ceil(p.size / per) * 256);
  if (boundWhole) {
    const bytes = sizes.reduce((a, b) => a + b, 0);
    return { holds, bytes, binding: bytes };
  }
  let largest = -1;
  sizes.forEach((s, i) => {
    if (largest < 0 || s > sizes[largest]) largest = i;
  });
  return largest < 0
    ? { holds, bytes: 0, binding: 0 }
    : { holds: `${holds.replace(/s$/, "")} ${params[largest].name}`, bytes: sizes[largest], binding: 0 };
}

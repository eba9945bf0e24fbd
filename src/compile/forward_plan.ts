/**
 * Forward programs planned without a device (evaluate and export stages, generation): their GPU memory,
 * and the largest batch whose bindings, buffers and dispatches fit the limits.
 */
import { type Node, topo } from "../graph/node.ts";
import type { ModelGraph } from "../models/graph.ts";
import { type Extremes, extremesOf, flatBuffer } from "./_extremes.ts";
import { overLimit, planProblem } from "./_plan_limits.ts";
import type { PlanLimits } from "./limits.ts";
import { planBuffers } from "./plan.ts";
import { operandTextureBytes } from "./_texture_plan.ts";
import { align } from "./program.ts";
import type { Half } from "../graph/op.ts";
import { halfBytes } from "./half_weights.ts";

/** GPU memory of a forward program over a store of parameters, in bytes. */
export interface ForwardMemory {
  /** The parameters (frozen and trainable). */
  weights: number;
  /** The part of `weights` held in 16 bits (frozen weights kept as stored, f16 or bf16); absent when none. */
  weights16?: number;
  /** Planned intermediate buffers and input buffers. */
  activations: number;
  /** Scratch textures of matmul operands, on adapters that read them so (lavapipe); absent when none. */
  textures?: number;
  /** All of it. */
  total: number;
}

/**
 * Memory and extremes of `outputs` of `model`, compiled as `Forward.compile` does (parameters in the flat
 * buffers of a ParamStore, the frozen ones in `half` in 16 bits) or, with `store` false, as `Program.compile`
 * alone does (a buffer per parameter, all f32).
 */
export function planForward(
  model: Pick<ModelGraph, "params">,
  outputs: readonly Node[],
  store = true,
  half: ReadonlyMap<Node, Half> = new Map(),
  textures = false,
): { memory: ForwardMemory; extremes: Extremes } {
  const params = [...model.params.values()];
  const halves = store ? half : new Map<Node, Half>();
  const plan = planBuffers(outputs, new Set(params), halves);
  const leaves = topo(outputs).filter((n) => n.role === "input" || n.role === "const");
  const frozen = params.filter((p) => !p.trainable && !halves.has(p));
  const frozen16 = params.filter((p) => halves.has(p));
  const trainable = params.filter((p) => p.trainable);
  const flats = store
    ? [
      flatBuffer("frozen parameters", frozen, 4, false),
      flatBuffer("frozen 16-bit parameters", frozen16, 2, false),
      flatBuffer("trainable parameters", trainable, 4, false),
    ]
    : params.map((p) => ({ holds: `parameter ${p.name}`, bytes: align(p.size * 4), binding: 0 }));
  // a store allocates at least one aligned block for each flat buffer
  const stored = (ps: readonly Node[]) =>
    Math.max(256, ps.reduce((a, p) => a + Math.ceil(p.size / 64) * 256, 0));
  const weights16 = frozen16.reduce((a, p) => a + halfBytes(p.size), 0);
  const weights = store
    ? stored(frozen) + weights16 + stored(trainable)
    : params.reduce((a, p) => a + align(p.size * 4), 0);
  const activations = plan.bytes + leaves.reduce((a, n) => a + align(n.size * 4), 0);
  const tex = textures ? operandTextureBytes(plan, half) : 0;
  return {
    memory: {
      weights,
      ...(weights16 > 0 ? { weights16 } : {}),
      activations,
      ...(tex > 0 ? { textures: tex } : {}),
      total: weights + activations + tex,
    },
    extremes: extremesOf(plan, leaves, flats, halves),
  };
}

/** A forward program at one batch size. */
export interface ForwardAt {
  model: Pick<ModelGraph, "params">;
  outputs: Node[];
  /** Parameters in a ParamStore's flat buffers (default) or a buffer each. */
  store?: boolean;
  /** Frozen parameters the store keeps in 16 bits (see halfWeights). */
  half?: ReadonlyMap<Node, Half>;
}

/**
 * The largest batch (or other `unit` memory grows with) in [1, `most`] whose forward (`at(batch)`) fits
 * `limits`, with its memory (with `exact`, `most` or nothing); a forward that does not fit is a PipelineError
 * at `model.dim` naming `what`.
 */
export function fitBatch(
  what: string,
  most: number,
  limits: PlanLimits,
  at: (batch: number) => ForwardAt,
  exact = false,
  unit = "batch",
): { batch: number; memory: ForwardMemory } {
  const plan = (b: number) => {
    const f = at(b);
    return planForward(f.model, f.outputs, f.store ?? true, f.half, limits.textureOperands ?? false);
  };
  const top = plan(most);
  const over = overLimit(top.extremes, limits);
  if (!over) return { batch: most, memory: top.memory };
  if (exact) throw planProblem("model.dim", `${what} at ${unit} ${most} ${over.text}: use a smaller model`);
  const one = plan(1);
  const overOne = overLimit(one.extremes, limits);
  if (overOne) throw planProblem("model.dim", `${what} at ${unit} 1 ${overOne.text}: use a smaller model`);
  // memory grows with the batch: the largest that fits lies in [lo, hi)
  let lo = 1, hi = most, fit = one;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const p = plan(mid);
    if (overLimit(p.extremes, limits)) hi = mid;
    else [lo, fit] = [mid, p];
  }
  return { batch: lo, memory: fit.memory };
}

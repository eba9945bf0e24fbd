/** The op contract: shape rule, float64 reference, gradient rule and GPU lowering, side by side. */
import { type Attrs, Node, type Shape } from "./node.ts";
import type { OperandFormat } from "../gpu/operand_textures.ts";

/**
 * Where a kernel binding points: the op's inputs by index, its output, a scratch buffer, or a fixed buffer.
 * `offset` and `size` (bytes) bind part of it, e.g. one chunk of a weight's rows; an offset must be a
 * multiple of 256 (WebGPU's storage offset alignment) and `size` a multiple of 4.
 */
export type BindingRef =
  | { in: number; offset?: number; size?: number }
  | { out: true; offset?: number; size?: number }
  | { scratch: number; offset?: number; size?: number }
  | { buffer: GPUBuffer; offset?: number; size?: number };

/** How an input is stored: f32 (false), or 16 bits a value, as f16 or bf16 (frozen weights). */
export type Half = false | "f16" | "bf16";

/**
 * One compute dispatch. Binding 0 is the uniform `params`; bindings 1.. follow `bind` in order.
 * Kernels must take sizes from `params`, never from arrayLength: planned buffers may be larger.
 */
export interface KernelCall {
  /** Kernel name for errors (`matmul`); the source is imported from `kernels/<name>.wgsl`. */
  kernel: string;
  /** WGSL source text. */
  source: string;
  entry?: string;
  /** Uniform bytes (see `params()` in src/gpu/kernels.ts). */
  params: ArrayBuffer;
  workgroups: readonly [number, number, number];
  bind: readonly BindingRef[];
  /**
   * The same kernel reading the bindings `bind` (indices into `bind`) from textures (`formats`) instead of
   * storage buffers (see src/gpu/operand_textures.ts); a program uses it on adapters where that is faster.
   */
  textured?: { source: string; bind: readonly number[]; formats: readonly OperandFormat[] };
  /**
   * The call to run instead on adapters whose lanes are a CPU's SIMD groups (the same adapters that read
   * textured operands): same bindings, another kernel (a lane per row, where barriers cost coroutine
   * switches there but keep a GPU busy).
   */
  onCpu?: KernelCall;
  /**
   * Subgroup lanes the kernel needs (it uses subgroup builtins across the whole workgroup); a program runs an
   * `onCpu` variant that needs them only on a device whose subgroups have exactly that many lanes.
   */
  subgroupSize?: number;
  /**
   * The most loop iterations one invocation may run, where that grows with the shapes (loops a compiler may
   * not unroll counted): a program refuses the call on a device that stops loops sooner (src/gpu/loop_cap.ts).
   */
  loops?: number;
}

/** The call as run where `onCpu` variants apply: the variant, bound as the call is. */
export function cpuVariant(call: KernelCall): KernelCall {
  return call.onCpu ? { ...call.onCpu, bind: call.bind } : call;
}

/** The GPU form of one op application. */
export interface Lowering {
  calls: KernelCall[];
  /** Sizes in floats of scratch buffers the calls use; they live only for this op. */
  scratch?: number[];
}

/** Everything about one op. Composite ops are plain functions building primitives and need no def. */
export interface OpDef {
  name: string;
  /** Output shape; throws ShapeError naming both shapes when inputs do not fit. */
  shape(inputs: readonly Shape[], attrs: Attrs): Shape;
  /** float64 reference: the truth kernels and gradients are tested against. */
  cpu(inputs: readonly Float64Array[], shapes: readonly Shape[], attrs: Attrs, out: Shape): Float64Array;
  /** Gradients for each input given the output's gradient `g`; null where an input gets none. */
  grad?(node: Node, g: Node): (Node | null)[];
  /**
   * Kernel calls computing the output; absent for views. `half[k]` says input k is stored in 16 bits, as
   * f16 or bf16 (only inputs listed in `halfInputs` can be).
   */
  gpu?(shapes: readonly Shape[], attrs: Attrs, out: Shape, half?: readonly Half[]): Lowering;
  /** Inputs whose kernels can read them stored as f16 (frozen matmul weights); none when absent. */
  halfInputs?: readonly number[];
  /** Views (reshape) share their input's storage: no kernel, no copy. */
  view?: boolean;
}

const table = new Map<string, OpDef>();

/** Adds ops to the table; a name defined twice is a bug. */
export function defineOps(...defs: OpDef[]): void {
  for (const d of defs) {
    if (table.has(d.name)) throw new Error(`op ${d.name} is defined twice`);
    table.set(d.name, d);
  }
}

/** The definition of `op`. */
export function opDef(op: string): OpDef {
  const d = table.get(op);
  if (!d) throw new Error(`unknown op ${op}`);
  return d;
}

/** Applies a defined op: infers the output shape now, so shape errors point at the call site. */
export function apply(op: string, inputs: readonly Node[], attrs: Attrs = {}, name = ""): Node {
  const def = opDef(op);
  const shape = def.shape(inputs.map((n) => n.shape), attrs);
  return new Node(op, inputs, shape, attrs, "op", name || op);
}

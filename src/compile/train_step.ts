/**
 * The compiled training step: forward, loss, backward, gradient clipping and AdamW as one fixed list of
 * dispatches over planned buffers, replayed every step with new data. Metrics are summed on the GPU.
 */
import { operandTextureBytes } from "./_texture_plan.ts";
import accumulateSource from "../../kernels/accumulate.wgsl" with { type: "text" };
import { copy } from "../graph/ops/shape.ts";
import { sumAll } from "../graph/ops/reduce.ts";
import { scale } from "../graph/ops/unary.ts";
import { gradients } from "../graph/grad.ts";
import { recomputed } from "../graph/recompute.ts";
import { type Node, sizeOf, topo } from "../graph/node.ts";
import { cpuVariant, opDef } from "../graph/op.ts";
import { grid, params } from "../gpu/kernels.ts";
import type { ModelGraph } from "../models/graph.ts";
import { adamwCalls, type AdamwOptions, writeOptimizerState } from "./optimizer.ts";
import { type FrozenDtype, halfBytes, halfWeights, type StoredDtypes } from "./half_weights.ts";
import { ParamStore, read } from "./param_store.ts";
import { checkMicroBatches, gradAccumulateCall, microBatch } from "./micro_batches.ts";
import { planBuffers } from "./plan.ts";
import { positionsFor } from "./positions.ts";
import { align, Program, type Slot } from "./program.ts";
import { scoped } from "../gpu/errors.ts";
import { type Extremes, extremesOf, flatBuffer } from "./_extremes.ts";

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** One batch of inputs, already laid out as the model's input nodes expect. */
export interface Batch {
  x: Float32Array;
  labels: Float32Array;
  weights: Float32Array;
  /** One-hot domain of each example [B, D]. */
  domains: Float32Array;
  gate?: Float32Array;
  /** Per-token positions [B, T] (isolated examples); a graph that reads them gets 0..T-1 without. */
  positions?: Float32Array;
}

/** Optimiser settings of a step. */
export type StepOptions = Omit<AdamwOptions, "theta" | "grad" | "m" | "v" | "mask" | "state" | "n"> & {
  /** Seeds the LoRA dropout masks (a new mask every step, the same sequence for the same seed). */
  seed?: number;
  /** Whether weight decay applies to a trainable parameter (default: matrices yes, vectors no). */
  decay?: (name: string, shape: readonly number[]) => boolean;
  /** How the frozen matmul weights are kept (see `halfWeights`); default "f32". */
  frozenDtype?: FrozenDtype;
  /** The checkpoint's stored element types, for frozenDtype "stored". */
  stored?: StoredDtypes;
} & StepShape;

/** How a step computes the whole batch's gradients: by micro-batches, with activations recomputed. */
export interface StepShape {
  /**
   * Micro-batches a step (gradient accumulation; default 1): the model is built for one micro-batch of
   * batch / accumulate examples, `feed` takes the whole batch, and `run` adds the micro-batches' gradients
   * before one optimiser step.
   */
  accumulate?: number;
  /**
   * Recompute activations (src/graph/recompute.ts): the backward pass makes the values between two
   * checkpoints of the forward again instead of keeping them, for the same results with less memory.
   */
  recompute?: boolean;
}

/**
 * A compiled step's GPU bytes by kind: `perTrainable` buffers the size of the trainable weights (weights,
 * gradients, Adam m and v; a packed step adds each element's variant index, an accumulating step the
 * micro-batch's gradients).
 */
export function stepMemory(
  bytes: { frozen: number; trainable: number; frozenF16?: number },
  program: { plannedBytes: number; leafBytes: number; textureBytes?: number },
  perTrainable: number,
): StepMemory {
  const trainableState = bytes.trainable * perTrainable;
  const activations = program.plannedBytes + program.leafBytes;
  const textures = program.textureBytes ?? 0;
  return {
    frozen: bytes.frozen,
    ...(bytes.frozenF16 ? { frozenF16: bytes.frozenF16 } : {}),
    trainableState,
    activations,
    ...(textures > 0 ? { textures } : {}),
    total: bytes.frozen + trainableState + activations + textures,
  };
}

/** GPU memory of a step, by what it holds. */
export interface StepMemory {
  /** Frozen weights. */
  frozen: number;
  /** Of `frozen`, the weights kept in 16 bits (f16 or bf16, see `frozenDtype`); absent when none are. */
  frozenF16?: number;
  /** Trainable weights, their gradients and both Adam moments (and a micro-batch's gradients). */
  trainableState: number;
  /** Planned intermediate buffers and input buffers. */
  activations: number;
  /** Scratch textures matmul operands are copied into, on adapters that read them so (lavapipe); absent when none. */
  textures?: number;
  /** All of it. */
  total: number;
}

/**
 * The graph of a step: gradients of the loss for every trainable parameter, each in a node that can own
 * the parameter's slot of the flat gradient buffer, and the outputs to compile. With `accumulate` micro-batches
 * the model is one micro-batch's and its loss, a mean over the micro-batch, is divided by `accumulate`: that
 * loss and its gradients are the micro-batch's share of the whole batch's, and their sums over the
 * micro-batches are the whole batch's (the domain losses are sums already). With `recompute` the gradient
 * rules read recomputed copies of the forward's values between checkpoints.
 */
export function stepGraph(
  model: ModelGraph,
  { accumulate = 1, recompute = false }: StepShape = {},
): { gradNodes: Map<Node, Node>; loss: Node; domainLoss: Node; outputs: Node[] } {
  const trainable = [...model.params.values()].filter((p) => p.trainable);
  if (trainable.length === 0) throw new Error("nothing to train: no parameter is trainable");
  const gradNodes = new Map<Node, Node>();
  const share = accumulate > 1 ? scale(model.loss, 1 / accumulate) : model.loss;
  // Packed variants have a loss each; their sum differentiates each variant's weights by its own loss.
  const root = share.size === 1 ? share : sumAll(share);
  const again = recompute ? recomputed([root, model.domainLoss], model.inputs.x) : undefined;
  for (const [p, g] of gradients(root, trainable, again)) {
    // The gradient of another parameter cannot own this slot too.
    gradNodes.set(p, [...gradNodes.values()].includes(g) ? copy(g) : ownable(g));
  }
  const loss = ownable(share);
  const domainLoss = ownable(model.domainLoss);
  return { gradNodes, loss, domainLoss, outputs: [loss, domainLoss, ...gradNodes.values()] };
}

/** A node that can live in a fixed slot: leaves and views have no kernel writing there, so copy them. */
function ownable(n: Node): Node {
  return n.role !== "op" || opDef(n.op).view ? copy(n) : n;
}

/** The largest binding, buffer and dispatch of a step (src/compile/_extremes.ts). */
export type StepExtremes = Extremes;

/**
 * Memory and kernels of a step, from the plan alone (no device): what `--plan` prints. With `frozenDtype`
 * "f16" the frozen matmul weights count 2 bytes each; with `accumulate` > 1, `model` is one micro-batch's.
 */
export function planStep(
  model: ModelGraph,
  clip: number,
  frozenDtype: FrozenDtype = "f32",
  shape: StepShape = {},
  stored?: StoredDtypes,
  textures = false,
): { memory: StepMemory; kernels: string[]; extremes: StepExtremes } {
  const accumulate = shape.accumulate ?? 1;
  const { outputs } = stepGraph(model, shape);
  const params = [...model.params.values()];
  const pinned = new Set<Node>([...params, ...outputs]);
  const half = halfWeights(outputs, frozenDtype, stored);
  const plan = planBuffers(outputs, pinned, half);
  const floats = (trainable: boolean) =>
    params.filter((p) => p.trainable === trainable && !half.has(p))
      .reduce((a, p) => a + Math.ceil(p.size / 64) * 64, 0);
  const leaves = topo(outputs).filter((n) => n.role === "input" || n.role === "const");
  const leafBytes = leaves.reduce((a, n) => a + align(n.size * 4), 0);
  const halves = [...half.keys()].reduce((a, p) => a + halfBytes(p.size), 0);
  const frozen32 = Math.max(floats(false), 64) * 4; // the store always allocates at least one aligned block
  const frozen = frozen32 + halves;
  const kernels = plan.lowerings.flatMap((l) =>
    l?.calls.map((c) => (textures ? cpuVariant(c) : c).kernel) ?? []
  );
  if (model.packed !== undefined) {
    kernels.push("grad_norm_packed", "grad_norm_packed_total", "adamw_packed", "accumulate_packed");
  } else {
    // an accumulating step's micro-batch program adds its gradients and metrics; the update runs once after
    if (accumulate > 1) kernels.push("grad_accumulate", "accumulate");
    kernels.push(...(clip > 0 ? ["grad_norm", "grad_norm_total"] : []), "adamw", "accumulate");
  }
  const frozenParams = params.filter((p) => !p.trainable && !half.has(p));
  const extremes = extremesOf(plan, leaves, [
    flatBuffer("frozen parameters", frozenParams, 4, false),
    flatBuffer("frozen 16-bit parameters", [...half.keys()], 2, false),
    flatBuffer("trainable parameters", params.filter((p) => p.trainable), 4, true),
  ], half);
  return {
    memory: stepMemory(
      { frozen, trainable: floats(true) * 4, frozenF16: halves },
      { plannedBytes: plan.bytes, leafBytes, textureBytes: textures ? operandTextureBytes(plan, half) : 0 },
      // packed steps keep each trainable element's variant (u32) beside its weight, gradient and moments,
      // accumulating steps a micro-batch's gradient
      model.packed !== undefined || accumulate > 1 ? 5 : 4,
    ),
    kernels,
    extremes,
  };
}

/** A compiled training step over a ParamStore shared with evaluation programs. */
export class TrainStep {
  private constructor(
    readonly model: ModelGraph,
    readonly store: ParamStore,
    /** The forward and backward (of one micro-batch when accumulating), then the update when not. */
    readonly program: Program,
    /** The optimiser update of an accumulating step, run after its micro-batches. */
    private readonly update: Program | undefined,
    private readonly buffers: {
      grad: GPUBuffer;
      m: GPUBuffer;
      v: GPUBuffer;
      mask: GPUBuffer;
      state: GPUBuffer;
      acc: GPUBuffer;
      micro?: GPUBuffer;
      zeros?: GPUBuffer;
    },
    private readonly options: StepOptions,
    /** Adam steps taken so far. */
    public steps: number,
  ) {}

  /** The batch an accumulating step runs next (see `feed`). */
  private pending: Batch | undefined;

  /** Compiles the step for `model`; the store is created here and can be shared with evaluation. */
  static async compile(device: GPUDevice, model: ModelGraph, options: StepOptions): Promise<TrainStep> {
    const all = [...model.params.values()];
    const n = options.accumulate ?? 1;
    checkMicroBatches(n);
    const { gradNodes, loss, domainLoss, outputs } = stepGraph(model, options);
    const half = halfWeights(outputs, options.frozenDtype ?? "f32", options.stored);
    const store = new ParamStore(
      device,
      all.map((p) => ({ name: p.name, shape: p.shape, trainable: p.trainable, half: half.get(p) ?? false })),
    );
    const grad = store.like("grad");
    const m = store.like("adam_m");
    const v = store.like("adam_v");
    const mask = store.like("decay_mask");
    const maskData = new Float32Array(store.trainableFloats);
    const decay = options.decay ?? ((_: string, shape: readonly number[]) => shape.length >= 2);
    for (const e of store.trainable()) {
      if (decay(e.name, e.shape)) maskData.fill(1, e.offset, e.offset + e.size);
    }
    device.queue.writeBuffer(mask, 0, maskData);

    // an accumulating step's backward writes each micro-batch's gradients beside the step's sum
    const micro = n > 1 ? store.like("grad_micro") : undefined;
    const pinned = new Map<Node, Slot>();
    for (const p of all) pinned.set(p, store.slot(p.name));
    for (const [p, g] of gradNodes) pinned.set(g, store.slotIn(micro ?? grad, p.name));
    const D = sizeOf(model.domainLoss.shape);
    const metricsFloats = 64 + D;
    const metrics = device.createBuffer({ size: align16(metricsFloats * 4), usage: USAGE, label: "metrics" });
    const acc = device.createBuffer({ size: align16(metricsFloats * 4), usage: USAGE, label: "metrics_acc" });
    pinned.set(loss, { buffer: metrics, offset: 0, bytes: 4 });
    pinned.set(domainLoss, { buffer: metrics, offset: 256, bytes: D * 4 });

    const opt = adamwCalls(device, {
      ...options,
      theta: store.theta,
      grad,
      m,
      v,
      mask,
      n: store.trainableFloats,
    });
    const accumulate = (x: GPUBuffer) => ({
      kernel: "accumulate",
      source: accumulateSource,
      params: params([["u32", metricsFloats]]),
      workgroups: grid(metricsFloats, 64),
      bind: [{ buffer: x }, { buffer: acc }, { buffer: opt.state }],
    });
    const buffers = { grad, m, v, mask, state: opt.state, acc };
    if (!micro) {
      const program = await Program.compile(device, outputs, {
        pinned,
        after: [...opt.calls, accumulate(metrics)],
      });
      return new TrainStep(model, store, program, undefined, buffers, options, 0);
    }
    const program = await Program.compile(device, outputs, {
      pinned,
      after: [gradAccumulateCall(micro, grad, store.trainableFloats), accumulate(metrics)],
    });
    // the update's `accumulate` adds nothing; it turns adamw's flag for non-finite weights into this step's number
    const zeros = device.createBuffer({ size: metrics.size, usage: USAGE, label: "metrics_zero" });
    const update = await Program.compile(device, [], { after: [...opt.calls, accumulate(zeros)] });
    return new TrainStep(model, store, program, update, { ...buffers, micro, zeros }, options, 0);
  }

  /**
   * Writes one batch into the input buffers; an accumulating step keeps the whole batch (not a copy) and writes
   * each micro-batch as `run` reaches it.
   */
  feed(batch: Batch): void {
    if (this.update) {
      checkMicroBatches(this.micro, batch.weights.length);
      this.pending = batch;
      return;
    }
    this.write(batch);
  }

  private write(batch: Batch): void {
    const i = this.model.inputs;
    this.program.write(i.x, batch.x);
    this.program.write(i.labels, batch.labels);
    this.program.write(i.weights, batch.weights);
    this.program.write(i.domains, batch.domains);
    if (i.positions) this.program.write(i.positions, positionsFor(i.positions, batch.positions));
    if (i.gate) {
      if (!batch.gate) throw new Error("this model has gated adapters: the batch needs gate values");
      this.program.write(i.gate, batch.gate);
    }
  }

  /** Runs one step at learning rate `lr`; nothing is read back. */
  run(lr: number): void {
    this.steps++;
    const { beta1, beta2 } = this.options;
    writeOptimizerState(this.store.device, this.buffers.state, { lr, step: this.steps, beta1, beta2 });
    if (!this.update) {
      this.writeSeed(0);
      this.program.run();
      return;
    }
    if (!this.pending) throw new Error("an accumulating step runs the batch given to feed: feed one first");
    const device = this.store.device;
    for (let k = 0; k < this.micro; k++) {
      // queue order: micro-batch k's inputs are written after micro-batch k - 1 has read its own
      this.write(microBatch(this.pending, k, this.micro));
      this.writeSeed(k);
      scoped(device, `micro-batch ${k + 1} of ${this.micro}: ${this.program.doing}`, () => {
        const encoder = device.createCommandEncoder();
        if (k === 0) encoder.clearBuffer(this.buffers.grad);
        this.program.encode(encoder);
        device.queue.submit([encoder.finish()]);
      });
    }
    this.update.run();
  }

  /** Micro-batch k's LoRA dropout seed: one per step and micro-batch, so no two share masks. */
  private writeSeed(k: number): void {
    const ds = this.model.inputs.dropoutSeed;
    if (!ds) return;
    const stepSeed = (this.options.seed ?? 0) * 7919 + this.steps;
    this.program.write(ds, new Float32Array([(stepSeed * this.micro + k) % 16777216]));
  }

  /** Micro-batches a step. */
  private get micro(): number {
    return this.options.accumulate ?? 1;
  }

  /**
   * The gradients the last step's update read, by trainable parameter: the sums over its micro-batches when
   * accumulating (clipping scales them inside the update, not here).
   */
  async gradients(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const e of this.store.trainable()) {
      const s = this.store.slotIn(this.buffers.grad, e.name);
      out.set(e.name, (await read(this.store.device, s.buffer, s.offset, s.bytes)).slice(0, e.size));
    }
    return out;
  }

  /**
   * Sums of the loss and per-domain losses since the last call, then zeroes them; `nanStep` is the first
   * step whose loss was not finite, `weightStep` the first step after which a trainable weight or Adam
   * moment was not finite (0 when none was).
   */
  async drainMetrics(): Promise<
    { loss: number; domainLoss: Float32Array; nanStep: number; weightStep: number }
  > {
    const device = this.store.device;
    const acc = await read(device, this.buffers.acc);
    device.queue.writeBuffer(this.buffers.acc, 0, new Float32Array(acc.length));
    const D = sizeOf(this.model.domainLoss.shape);
    return { loss: acc[0], domainLoss: acc.slice(64, 64 + D), nanStep: acc[62], weightStep: acc[61] };
  }

  /**
   * The metric sums since the last `drainMetrics` (loss at 0, first step with non-finite weights at 61,
   * first non-finite loss at 62, per-domain losses from 64), without clearing them: checkpoints keep them so a resume between two drains logs the same.
   */
  metricsState(): Promise<Float32Array> {
    return read(this.store.device, this.buffers.acc);
  }

  /** Restores what `metricsState` returned. */
  restoreMetrics(sums: Float32Array): void {
    this.store.device.queue.writeBuffer(this.buffers.acc, 0, sums as Float32Array<ArrayBuffer>);
  }

  /** Adam moments and step count, for checkpoints. */
  async optimizerState(): Promise<{ m: Float32Array; v: Float32Array; steps: number }> {
    const device = this.store.device;
    return {
      m: await read(device, this.buffers.m),
      v: await read(device, this.buffers.v),
      steps: this.steps,
    };
  }

  /** Restores what `optimizerState` returned. */
  restoreOptimizer(state: { m: Float32Array; v: Float32Array; steps: number }): void {
    const q = this.store.device.queue;
    q.writeBuffer(this.buffers.m, 0, state.m as Float32Array<ArrayBuffer>);
    q.writeBuffer(this.buffers.v, 0, state.v as Float32Array<ArrayBuffer>);
    this.steps = state.steps;
  }

  /** GPU bytes by kind, from the buffer plan. */
  memory(): StepMemory {
    return stepMemory(this.store.bytes, this.program, this.update ? 5 : 4);
  }

  /** Kernel names of the step in dispatch order (an accumulating step's micro-batch program, then its update). */
  kernels(): string[] {
    return [...this.program.kernels(), ...(this.update?.kernels() ?? [])];
  }

  destroy(): void {
    this.program.destroy();
    this.update?.destroy();
    for (const b of Object.values(this.buffers)) b.destroy();
    this.store.destroy();
  }
}

function align16(n: number): number {
  return Math.ceil(n / 16) * 16;
}

/**
 * K LoRA variants on one frozen backbone trained in one compiled step: one graph over all K batches
 * (a packed model graph), one flat trainable buffer holding every variant's stacked weights, and an
 * optimiser that keeps each variant's learning rate, gradient norm, clipping and Adam moments apart.
 */
import accumulateSource from "../../kernels/accumulate_packed.wgsl" with { type: "text" };
import type { Node } from "../graph/node.ts";
import { plainPositions } from "../data/packing.ts";
import { positionsFor } from "./positions.ts";
import { grid, params } from "../gpu/kernels.ts";
import type { ModelGraph } from "../models/graph.ts";
import { packedAdamwCalls, type VariantStep, writePackedState } from "./packed_optimizer.ts";
import { ParamStore, read } from "./param_store.ts";
import { align, Program, type Slot } from "./program.ts";
import { type Batch, stepGraph, type StepMemory, stepMemory } from "./train_step.ts";

export type { VariantStep };

const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
/** Losses of up to 64 variants fit before the domain sums, which start at float 64. */
const MAX_VARIANTS = 64;

/** Settings shared by the pack. */
export interface PackedStepOptions {
  beta1: number;
  beta2: number;
  eps: number;
  /** Each variant's seed for its LoRA dropout masks (as StepOptions.seed alone; default 0). */
  seeds?: readonly number[];
  /** Whether weight decay applies to a parameter, by its unstacked shape (default: matrices). */
  decay?: (name: string, shape: readonly number[]) => boolean;
}

/**
 * One variant's metric sums since the last drain, as TrainStep.drainMetrics gives them: `nanStep` is the first
 * step whose loss was not finite, `weightStep` the first after which a weight or Adam moment was not (0: none).
 */
export interface VariantMetrics {
  loss: number;
  domainLoss: Float32Array;
  nanStep: number;
  weightStep: number;
}

/** The K batches laid end to end, variant k's examples in rows k * batch ..: the packed step's input. */
export function packBatches(batches: readonly Batch[]): Batch {
  const cat = (get: (b: Batch) => Float32Array) => {
    const out = new Float32Array(batches.reduce((a, b) => a + get(b).length, 0));
    let at = 0;
    for (const b of batches) {
      out.set(get(b), at);
      at += get(b).length;
    }
    return out;
  };
  const gated = batches.every((b) => b.gate);
  // rows without positions of their own read 0..T-1
  const placed = batches.some((b) => b.positions);
  const positions = (b: Batch) =>
    b.positions ?? plainPositions(b.weights.length, b.x.length / b.weights.length);
  return {
    x: cat((b) => b.x),
    labels: cat((b) => b.labels),
    weights: cat((b) => b.weights),
    domains: cat((b) => b.domains),
    gate: gated ? cat((b) => b.gate!) : undefined,
    ...(placed ? { positions: cat(positions) } : {}),
  };
}

/** The compiled step of a packed model graph (built with `variants`). */
export class PackedTrainStep {
  private constructor(
    readonly model: ModelGraph,
    readonly store: ParamStore,
    readonly program: Program,
    private readonly buffers: Record<"grad" | "m" | "v" | "mask" | "variant" | "state" | "acc", GPUBuffer>,
    private readonly options: PackedStepOptions,
    private readonly stride: number,
    /** Adam steps taken so far (the same for every variant). */
    public steps: number,
  ) {}

  /** Variants in the pack. */
  get variants(): number {
    return this.model.packed ?? 1;
  }

  static async compile(
    device: GPUDevice,
    model: ModelGraph,
    options: PackedStepOptions,
  ): Promise<PackedTrainStep> {
    const K = model.packed;
    if (K === undefined) throw new Error("PackedTrainStep needs a graph built with `variants`");
    if (K > MAX_VARIANTS) throw new Error(`a pack holds at most ${MAX_VARIANTS} variants, found ${K}`);
    const all = [...model.params.values()];
    const store = new ParamStore(
      device,
      all.map((p) => ({ name: p.name, shape: p.shape, trainable: p.trainable })),
    );
    const grad = store.like("grad");
    const m = store.like("adam_m");
    const v = store.like("adam_v");
    const mask = store.like("decay_mask");
    const variant = store.like("variant");
    const maskData = new Float32Array(store.trainableFloats);
    const variantData = new Uint32Array(store.trainableFloats).fill(K);
    const decay = options.decay ?? ((_: string, shape: readonly number[]) => shape.length >= 2);
    for (const e of store.trainable()) {
      if (e.shape[0] !== K) {
        throw new Error(`trainable ${e.name} [${e.shape}] is not stacked over ${K} variants`);
      }
      const per = e.size / K;
      for (let k = 0; k < K; k++) variantData.fill(k, e.offset + k * per, e.offset + (k + 1) * per);
      if (decay(e.name, e.shape.slice(1))) maskData.fill(1, e.offset, e.offset + e.size);
    }
    device.queue.writeBuffer(mask, 0, maskData);
    device.queue.writeBuffer(variant, 0, variantData);

    const pinned = new Map<Node, Slot>();
    for (const p of all) pinned.set(p, store.slot(p.name));
    const { gradNodes, loss, domainLoss, outputs } = stepGraph(model);
    for (const [p, g] of gradNodes) pinned.set(g, store.slotIn(grad, p.name));
    const D = model.domainLoss.shape[1];
    const metrics = device.createBuffer({ size: align((64 + K * D) * 4), usage: USAGE, label: "metrics" });
    const stride = Math.ceil((64 + D) / 64) * 64;
    const acc = device.createBuffer({ size: K * stride * 4, usage: USAGE, label: "metrics_acc" });
    pinned.set(loss, { buffer: metrics, offset: 0, bytes: K * 4 });
    pinned.set(domainLoss, { buffer: metrics, offset: 256, bytes: K * D * 4 });

    const opt = packedAdamwCalls(device, {
      ...options,
      theta: store.theta,
      grad,
      m,
      v,
      mask,
      variant,
      n: store.trainableFloats,
      variants: K,
    });
    const accumulate = {
      kernel: "accumulate_packed",
      source: accumulateSource,
      params: params([["u32", K], ["u32", D], ["u32", stride]]),
      workgroups: grid(K * stride, 64),
      bind: [{ buffer: metrics }, { buffer: acc }, { buffer: opt.state }],
    };
    const program = await Program.compile(device, outputs, { pinned, after: [...opt.calls, accumulate] });
    const buffers = { grad, m, v, mask, variant, state: opt.state, acc };
    return new PackedTrainStep(model, store, program, buffers, options, stride, 0);
  }

  /** Writes the packed batch (see `packBatches`). */
  feed(batch: Batch): void {
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

  /** Runs one step, variant k at `variants[k]`'s learning rate, clipping and weight decay. */
  run(variants: readonly VariantStep[]): void {
    if (variants.length !== this.variants) {
      throw new Error(`run: settings for ${variants.length} variants given, the pack has ${this.variants}`);
    }
    this.steps++;
    const ds = this.model.inputs.dropoutSeed;
    if (ds) {
      // the sequence TrainStep writes for a variant alone, one value per variant
      const seeds = Array.from({ length: this.variants }, (_, k) => this.options.seeds?.[k] ?? 0);
      this.program.write(ds, Float32Array.from(seeds, (s) => (s * 7919 + this.steps) % 16777216));
    }
    writePackedState(this.store.device, this.buffers.state, this.steps, this.options, variants);
    this.program.run();
  }

  /** Each variant's loss and domain-loss sums since the last call, then zeroes them. */
  async drainMetrics(): Promise<VariantMetrics[]> {
    const device = this.store.device;
    const acc = await read(device, this.buffers.acc);
    device.queue.writeBuffer(this.buffers.acc, 0, new Float32Array(acc.length));
    const D = this.model.domainLoss.shape[1];
    return Array.from({ length: this.variants }, (_, k) => {
      const at = k * this.stride;
      const domainLoss = acc.slice(at + 64, at + 64 + D);
      return { loss: acc[at], domainLoss, nanStep: acc[at + 62], weightStep: acc[at + 61] };
    });
  }

  /** Each variant's gradient norm of the last step (before clipping). */
  async gradNorms(): Promise<number[]> {
    const s = await read(this.store.device, this.buffers.state);
    return Array.from({ length: this.variants }, (_, k) => s[k * 8 + 2]);
  }

  /** GPU bytes by kind, from the buffer plan. */
  memory(): StepMemory {
    return stepMemory(this.store.bytes, this.program, 5);
  }

  kernels(): string[] {
    return this.program.kernels();
  }

  destroy(): void {
    this.program.destroy();
    for (const b of Object.values(this.buffers)) b.destroy();
    this.store.destroy();
  }
}

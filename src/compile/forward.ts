/** A compiled forward pass sharing a ParamStore with a training step: evaluation reads live weights. */
import type { Node } from "../graph/node.ts";
import type { ModelGraph } from "../models/graph.ts";
import type { ParamStore } from "./param_store.ts";
import { Program, type Slot } from "./program.ts";
import type { Batch } from "./train_step.ts";
import { positionsFor } from "./positions.ts";

/** Forward-only program over a model graph built for evaluation. */
export class Forward {
  private constructor(readonly model: ModelGraph, readonly program: Program) {}

  /** Compiles `outputs` of `model`, reading parameters from `store` by name. */
  static async compile(
    device: GPUDevice,
    store: Pick<ParamStore, "slot">,
    model: ModelGraph,
    outputs: Node[],
  ): Promise<Forward> {
    const pinned = new Map<Node, Slot>();
    for (const p of model.params.values()) pinned.set(p, store.slot(p.name));
    return new Forward(model, await Program.compile(device, outputs, { pinned }));
  }

  /** Writes a batch; inputs the outputs do not need are skipped. */
  feed(batch: Partial<Batch> & { x: Float32Array }): void {
    const i = this.model.inputs;
    const put = (node: Node | undefined, data: Float32Array | undefined) => {
      if (node && data && this.program.slots.has(node)) this.program.write(node, data);
    };
    put(i.x, batch.x);
    put(i.labels, batch.labels);
    put(i.weights, batch.weights);
    put(i.domains, batch.domains);
    put(i.gate, batch.gate);
    if (i.positions) put(i.positions, positionsFor(i.positions, batch.positions));
  }

  /** Runs and reads the given outputs. */
  async run(outputs: Node[]): Promise<Float32Array[]> {
    this.program.run();
    return await Promise.all(outputs.map((o) => this.program.read(o)));
  }

  destroy(): void {
    this.program.destroy();
  }
}

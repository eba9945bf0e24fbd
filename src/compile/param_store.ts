/**
 * Parameters on the GPU: trainable ones in one flat buffer (so one AdamW dispatch updates them all), frozen
 * ones in another. Every tensor starts at a 256-byte boundary, as storage bindings require.
 */
import { read } from "../gpu/readback.ts";
import type { Slot } from "./program.ts";

export { read };

/** Floats between tensor starts are rounded up to this (256 bytes). */
const ALIGN = 64;
const USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** One parameter's place. */
export interface ParamEntry {
  name: string;
  shape: readonly number[];
  size: number;
  trainable: boolean;
  /** Float offset in its flat buffer. */
  offset: number;
}

/** The flat buffers and where each parameter lives in them. */
export class ParamStore {
  readonly entries = new Map<string, ParamEntry>();
  readonly theta: GPUBuffer;
  readonly frozen: GPUBuffer;
  /** Floats in the trainable buffer, padding included. */
  readonly trainableFloats: number;
  readonly frozenFloats: number;

  constructor(
    readonly device: GPUDevice,
    params: readonly { name: string; shape: readonly number[]; trainable: boolean }[],
  ) {
    let t = 0;
    let f = 0;
    for (const p of params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      const offset = p.trainable ? t : f;
      const next = offset + Math.ceil(size / ALIGN) * ALIGN;
      if (p.trainable) t = next;
      else f = next;
      this.entries.set(p.name, { name: p.name, shape: p.shape, size, trainable: p.trainable, offset });
    }
    this.trainableFloats = Math.max(t, ALIGN);
    this.frozenFloats = Math.max(f, ALIGN);
    this.theta = device.createBuffer({ size: this.trainableFloats * 4, usage: USAGE, label: "theta" });
    this.frozen = device.createBuffer({ size: this.frozenFloats * 4, usage: USAGE, label: "frozen" });
  }

  /** Trainable parameter entries in buffer order. */
  trainable(): ParamEntry[] {
    return [...this.entries.values()].filter((e) => e.trainable);
  }

  /** The slot of a parameter in its flat buffer. */
  slot(name: string): Slot {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no parameter named ${name}`);
    return { buffer: e.trainable ? this.theta : this.frozen, offset: e.offset * 4, bytes: e.size * 4 };
  }

  /** The same place in another buffer laid out like the trainable one (gradients, Adam moments). */
  slotIn(buffer: GPUBuffer, name: string): Slot {
    const e = this.entries.get(name)!;
    return { buffer, offset: e.offset * 4, bytes: e.size * 4 };
  }

  /** A new zeroed buffer laid out like the trainable one. */
  like(label: string): GPUBuffer {
    return this.device.createBuffer({ size: this.trainableFloats * 4, usage: USAGE, label });
  }

  /** Uploads values by name; every parameter must be given, with the right size. */
  upload(values: ReadonlyMap<string, Float32Array>): void {
    for (const e of this.entries.values()) {
      const v = values.get(e.name);
      if (!v) throw new Error(`no value for parameter ${e.name}`);
      if (v.length !== e.size) {
        throw new Error(`parameter ${e.name}: ${v.length} values for shape [${e.shape}]`);
      }
      const s = this.slot(e.name);
      this.device.queue.writeBuffer(s.buffer, s.offset, v as Float32Array<ArrayBuffer>);
    }
  }

  /** Reads every parameter back. */
  async download(): Promise<Map<string, Float32Array>> {
    const [theta, frozen] = await Promise.all([
      read(this.device, this.theta),
      read(this.device, this.frozen),
    ]);
    const out = new Map<string, Float32Array>();
    for (const e of this.entries.values()) {
      const src = e.trainable ? theta : frozen;
      out.set(e.name, src.slice(e.offset, e.offset + e.size));
    }
    return out;
  }

  /** Bytes of the two flat buffers. */
  get bytes(): { trainable: number; frozen: number } {
    return { trainable: this.theta.size, frozen: this.frozen.size };
  }

  destroy(): void {
    this.theta.destroy();
    this.frozen.destroy();
  }
}

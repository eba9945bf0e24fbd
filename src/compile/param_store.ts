/**
 * Parameters on the GPU: trainable ones in one flat buffer (so one AdamW dispatch updates them all), frozen
 * ones in another, and frozen ones marked `half` (matmul weights) as f16 in a third. Every tensor starts at a
 * 256-byte boundary, as storage bindings require.
 */
import { read } from "../gpu/readback.ts";
import { scoped, size } from "../gpu/errors.ts";
import { toHalves } from "./_halves.ts";
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
  /** Stored as f16 in the `halves` buffer. */
  half: boolean;
  /** Element offset in its flat buffer. */
  offset: number;
}

/** A parameter the store holds; `half` (frozen ones only) stores it as f16. */
export interface ParamInfo {
  name: string;
  shape: readonly number[];
  trainable: boolean;
  half?: boolean;
}

/** The flat buffers and where each parameter lives in them. */
export class ParamStore {
  readonly entries = new Map<string, ParamEntry>();
  readonly theta: GPUBuffer;
  readonly frozen: GPUBuffer;
  /** f16 frozen weights; absent when there are none. */
  readonly halves?: GPUBuffer;
  /** Floats in the trainable buffer, padding included. */
  readonly trainableFloats: number;
  readonly frozenFloats: number;
  /**
   * The f32 arrays the f16 weights were uploaded from (the caller's, not copies: they must not change after
   * upload). Frozen weights never change, so `download` returns these, not their f16 rounding.
   */
  private readonly kept = new Map<string, Float32Array>();

  constructor(readonly device: GPUDevice, params: readonly ParamInfo[]) {
    let t = 0;
    let f = 0;
    let h = 0;
    for (const p of params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      const half = p.half === true;
      if (half && p.trainable) {
        throw new Error(`parameter ${p.name}: a trainable weight cannot be stored as f16`);
      }
      const offset = p.trainable ? t : half ? h : f;
      // halves align to 2 ALIGN elements: the same 256 bytes
      const next = offset + Math.ceil(size / (half ? 2 * ALIGN : ALIGN)) * (half ? 2 * ALIGN : ALIGN);
      if (p.trainable) t = next;
      else if (half) h = next;
      else f = next;
      this.entries.set(p.name, { name: p.name, shape: p.shape, size, trainable: p.trainable, half, offset });
    }
    this.trainableFloats = Math.max(t, ALIGN);
    this.frozenFloats = Math.max(f, ALIGN);
    const make = (bytes: number, label: string, what: string) =>
      scoped(
        device,
        `allocating the ${what} (${size(bytes)})`,
        () => device.createBuffer({ size: bytes, usage: USAGE, label }),
      );
    this.theta = make(this.trainableFloats * 4, "theta", "trainable parameters");
    this.frozen = make(this.frozenFloats * 4, "frozen", "frozen parameters");
    if (h > 0) this.halves = make(h * 2, "frozen_f16", "frozen f16 parameters");
  }

  /** Trainable parameter entries in buffer order. */
  trainable(): ParamEntry[] {
    return [...this.entries.values()].filter((e) => e.trainable);
  }

  /** The slot of a parameter in its flat buffer. */
  slot(name: string): Slot {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no parameter named ${name}`);
    if (e.half) return { buffer: this.halves!, offset: e.offset * 2, bytes: e.size * 2, half: true };
    return { buffer: e.trainable ? this.theta : this.frozen, offset: e.offset * 4, bytes: e.size * 4 };
  }

  /** The same place in another buffer laid out like the trainable one (gradients, Adam moments). */
  slotIn(buffer: GPUBuffer, name: string): Slot {
    const e = this.entries.get(name)!;
    return { buffer, offset: e.offset * 4, bytes: e.size * 4 };
  }

  /** A new zeroed buffer laid out like the trainable one. */
  like(label: string): GPUBuffer {
    const bytes = this.trainableFloats * 4;
    return scoped(
      this.device,
      `allocating ${label} (${size(bytes)})`,
      () => this.device.createBuffer({ size: bytes, usage: USAGE, label }),
    );
  }

  /** Uploads values by name; every parameter must be given, with the right size. */
  upload(values: ReadonlyMap<string, Float32Array>): void {
    scoped(this.device, "uploading the parameters", () => this.#upload(values));
  }

  #upload(values: ReadonlyMap<string, Float32Array>): void {
    for (const e of this.entries.values()) {
      const v = values.get(e.name);
      if (!v) throw new Error(`no value for parameter ${e.name}`);
      if (v.length !== e.size) {
        throw new Error(`parameter ${e.name}: ${v.length} values for shape [${e.shape}]`);
      }
      const s = this.slot(e.name);
      if (e.half) {
        this.device.queue.writeBuffer(s.buffer, s.offset, toHalves(e.name, v));
        this.kept.set(e.name, v);
      } else this.device.queue.writeBuffer(s.buffer, s.offset, v as Float32Array<ArrayBuffer>);
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
      if (e.half) {
        const v = this.kept.get(e.name);
        if (!v) throw new Error(`parameter ${e.name} was never uploaded`);
        out.set(e.name, v.slice());
        continue;
      }
      const src = e.trainable ? theta : frozen;
      out.set(e.name, src.slice(e.offset, e.offset + e.size));
    }
    return out;
  }

  /** Bytes of the flat buffers; `frozen` counts f32 and f16 frozen weights, `frozenF16` the f16 ones. */
  get bytes(): { trainable: number; frozen: number; frozenF16: number } {
    const frozenF16 = this.halves?.size ?? 0;
    return { trainable: this.theta.size, frozen: this.frozen.size + frozenF16, frozenF16 };
  }

  destroy(): void {
    this.theta.destroy();
    this.frozen.destroy();
    this.halves?.destroy();
  }
}

/**
 * Parameters on the GPU: trainable ones in one flat buffer (so one AdamW dispatch updates them all), frozen
 * ones in pools of buffers, and frozen ones marked `half` (matmul weights) in 16 bits (f16 or bf16) in pools
 * of their own. A pool is filled up to the device's maxBufferSize (a tensor larger than that is refused by the
 * plan), so a model larger than one buffer is stored whole. Every tensor starts at a 256-byte boundary, as storage
 * bindings require. Frozen weights a caller does not hold stream in from a {@link WeightSource} (a pretrained
 * checkpoint) piece by piece, and are not held on the host afterwards.
 */
import { read } from "../gpu/readback.ts";
import { scoped, size } from "../gpu/errors.ts";
import { toBfloat16, toHalves } from "./_halves.ts";
import type { Half } from "../graph/op.ts";
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
  /** Stored in 16 bits, as f16 or bf16, in a pool of `halves`; false for f32. */
  half: Half;
  /** Its pool of `frozen` or `halves` (0 for trainable ones). */
  pool: number;
  /** Element offset in its buffer. */
  offset: number;
}

/** A parameter the store holds; `half` (frozen ones only) stores it in 16 bits (true: f16). */
export interface ParamInfo {
  name: string;
  shape: readonly number[];
  trainable: boolean;
  half?: boolean | Half;
}

/** A piece of a weight from element `offset` on: float32 values, or 16-bit bits in the store's own type. */
export interface WeightPiece {
  offset: number;
  f32?: Float32Array;
  bits?: Uint16Array<ArrayBuffer>;
}

/** Where the values of frozen weights the caller does not hold come from: read a piece at a time. */
export interface WeightSource {
  has(name: string): boolean;
  /** `name`'s pieces; `bits` only when `keep` is the 16-bit type the source stores it in. */
  pieces(name: string, keep: Half): Iterable<WeightPiece>;
}

/** Bytes written between waits for the queue, so the writes' staging copies are freed as they go. */
const FLUSH_BYTES = 64 * 2 ** 20;

/** The buffers and where each parameter lives in them. */
export class ParamStore {
  readonly entries = new Map<string, ParamEntry>();
  readonly theta: GPUBuffer;
  /** Pools of f32 frozen weights (at least one). */
  readonly frozen: GPUBuffer[];
  /** Pools of 16-bit (f16 or bf16) frozen weights; empty when there are none. */
  readonly halves: GPUBuffer[];
  /** Floats in the trainable buffer, padding included. */
  readonly trainableFloats: number;
  /**
   * The f32 arrays the 16-bit weights were uploaded from (the caller's, not copies: they must not change after
   * upload). Frozen weights never change, so `download` returns these, not their f16 rounding.
   */
  private readonly kept = new Map<string, Float32Array>();
  /** Parameters streamed from a WeightSource: their values are not on the host, so `download` leaves them out. */
  private readonly streamed = new Set<string>();

  /** `poolBytes`: the most bytes one pool holds (default: the device's maxBufferSize). */
  constructor(
    readonly device: GPUDevice,
    params: readonly ParamInfo[],
    poolBytes = device.limits.maxBufferSize,
  ) {
    let t = 0;
    const f = new Pools(poolBytes, 4);
    const h = new Pools(poolBytes, 2);
    for (const p of params) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      const half: Half = p.half === true ? "f16" : p.half || false;
      if (half && p.trainable) {
        throw new Error(`parameter ${p.name}: a trainable weight cannot be stored in 16 bits`);
      }
      let pool = 0, offset = t;
      if (p.trainable) t += Math.ceil(size / ALIGN) * ALIGN;
      else [pool, offset] = (half ? h : f).place(size);
      this.entries.set(p.name, {
        name: p.name,
        shape: p.shape,
        size,
        trainable: p.trainable,
        half,
        pool,
        offset,
      });
    }
    this.trainableFloats = Math.max(t, ALIGN);
    const make = (bytes: number, label: string, what: string) =>
      scoped(
        device,
        `allocating the ${what} (${size(bytes)})`,
        () => device.createBuffer({ size: bytes, usage: USAGE, label }),
      );
    this.theta = make(this.trainableFloats * 4, "theta", "trainable parameters");
    const frozen = f.floats.length ? f.floats : [ALIGN];
    this.frozen = frozen.map((n, k) =>
      make(n * 4, `frozen_${k}`, `frozen parameters, pool ${k + 1} of ${frozen.length}`)
    );
    this.halves = h.floats.map((n, k) =>
      make(n * 2, `frozen_16bit_${k}`, `frozen 16-bit parameters, pool ${k + 1} of ${h.floats.length}`)
    );
  }

  /** Trainable parameter entries in buffer order. */
  trainable(): ParamEntry[] {
    return [...this.entries.values()].filter((e) => e.trainable);
  }

  /** The slot of a parameter in its flat buffer. */
  slot(name: string): Slot {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no parameter named ${name}`);
    if (e.half) return { buffer: this.halves[e.pool], offset: e.offset * 2, bytes: e.size * 2, half: e.half };
    return {
      buffer: e.trainable ? this.theta : this.frozen[e.pool],
      offset: e.offset * 4,
      bytes: e.size * 4,
    };
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
      this.#write(e, v);
    }
  }

  /**
   * Uploads the values given, and streams every other parameter from `source` a piece at a time (waiting for
   * the queue every 64 MiB, so no more than that is staged on the host). Streamed frozen weights are then on
   * the GPU only: `download` leaves them out.
   */
  async load(values: ReadonlyMap<string, Float32Array>, source?: WeightSource): Promise<void> {
    let written = 0;
    const wrote = async (bytes: number) => {
      written += bytes;
      if (written < FLUSH_BYTES) return;
      // writes are staged on the host until a submission; let the queue take them and free the copies
      this.device.queue.submit([]);
      await this.device.queue.onSubmittedWorkDone();
      written = 0;
    };
    for (const e of this.entries.values()) {
      const v = values.get(e.name);
      if (v) {
        scoped(this.device, `uploading parameter ${e.name}`, () => this.#write(e, v));
        await wrote(e.size * 4);
      } else if (source?.has(e.name)) {
        for (const piece of source.pieces(e.name, e.half)) {
          scoped(this.device, `uploading parameter ${e.name}`, () => this.#writePiece(e, piece));
          await wrote((piece.bits?.length ?? 0) * 2 + (piece.f32?.length ?? 0) * 4);
        }
        this.kept.delete(e.name);
        if (!e.trainable) this.streamed.add(e.name);
      } else throw new Error(`no value for parameter ${e.name}`);
    }
  }

  #writePiece(e: ParamEntry, piece: WeightPiece): void {
    const s = this.slot(e.name);
    const count = piece.f32?.length ?? 0;
    if (piece.bits) {
      if (!e.half) throw new Error(`parameter ${e.name}: 16-bit values for an f32 weight`);
      checkBits(e.name, e.half, piece.bits, piece.offset, e.size);
      this.device.queue.writeBuffer(s.buffer, s.offset + piece.offset * 2, piece.bits);
      return;
    }
    if (piece.offset + count > e.size) {
      throw new Error(
        `parameter ${e.name}: values up to element ${piece.offset + count} for shape [${e.shape}]`,
      );
    }
    const f32 = piece.f32!;
    if (e.half) {
      if (piece.offset % 2 !== 0) {
        throw new Error(`parameter ${e.name}: a 16-bit piece starts at an odd element`);
      }
      const bits = (e.half === "bf16" ? toBfloat16 : toHalves)(e.name, f32, piece.offset);
      this.device.queue.writeBuffer(s.buffer, s.offset + piece.offset * 2, bits);
    } else {this.device.queue.writeBuffer(
        s.buffer,
        s.offset + piece.offset * 4,
        f32 as Float32Array<ArrayBuffer>,
      );}
  }

  #write(e: ParamEntry, v: Float32Array): void {
    if (v.length !== e.size) {
      throw new Error(`parameter ${e.name}: ${v.length} values for shape [${e.shape}]`);
    }
    this.streamed.delete(e.name);
    const s = this.slot(e.name);
    if (e.half) {
      this.device.queue.writeBuffer(
        s.buffer,
        s.offset,
        (e.half === "bf16" ? toBfloat16 : toHalves)(e.name, v),
      );
      this.kept.set(e.name, v);
    } else this.device.queue.writeBuffer(s.buffer, s.offset, v as Float32Array<ArrayBuffer>);
  }

  /** Reads every parameter back but the frozen ones streamed in by `load` (their source still holds them). */
  async download(): Promise<Map<string, Float32Array>> {
    // only the pools holding a weight to return are read back
    const wanted = new Set<number>();
    for (const e of this.entries.values()) {
      if (!e.trainable && !e.half && !this.streamed.has(e.name)) wanted.add(e.pool);
    }
    const theta = await read(this.device, this.theta);
    const frozen = new Map<number, Float32Array>();
    for (const k of wanted) frozen.set(k, await read(this.device, this.frozen[k]));
    const out = new Map<string, Float32Array>();
    for (const e of this.entries.values()) {
      if (this.streamed.has(e.name)) continue;
      if (e.half) {
        const v = this.kept.get(e.name);
        if (!v) throw new Error(`parameter ${e.name} was never uploaded`);
        out.set(e.name, v.slice());
        continue;
      }
      const src = e.trainable ? theta : frozen.get(e.pool)!;
      out.set(e.name, src.slice(e.offset, e.offset + e.size));
    }
    return out;
  }

  /** Bytes of the buffers; `frozen` counts every frozen weight, `frozenF16` the 16-bit (f16 or bf16) ones. */
  get bytes(): { trainable: number; frozen: number; frozenF16: number } {
    const sum = (bs: readonly GPUBuffer[]) => bs.reduce((a, b) => a + b.size, 0);
    const frozenF16 = sum(this.halves);
    return { trainable: this.theta.size, frozen: sum(this.frozen) + frozenF16, frozenF16 };
  }

  destroy(): void {
    for (const b of [this.theta, ...this.frozen, ...this.halves]) b.destroy();
  }
}

/**
 * Refuses 16-bit bits (elements `offset` on of a weight of `size`) holding a non-finite value, as toHalves and
 * toBfloat16 refuse one when they convert.
 */
function checkBits(
  name: string,
  half: "f16" | "bf16",
  bits: Uint16Array,
  offset: number,
  size: number,
): void {
  const n = Math.min(bits.length, size - offset);
  if (n < 0 || bits.length > n + 1) {
    throw new Error(`parameter ${name}: values up to element ${offset + bits.length} for ${size} elements`);
  }
  const exponent = half === "bf16" ? 0x7f80 : 0x7c00;
  for (let i = 0; i < n; i++) {
    if ((bits[i] & exponent) === exponent) {
      throw new RangeError(`parameter ${name}: element ${offset + i} is not finite`);
    }
  }
}

/** Buffers filled in order up to `bytes` each; a tensor that does not fit the current one starts the next. */
class Pools {
  /** Elements (padding included) of each pool. */
  readonly floats: number[] = [];
  constructor(readonly bytes: number, readonly bytesPer: 2 | 4) {}

  /** The pool and element offset of a tensor of `size` elements, aligned to 256 bytes. */
  place(size: number): [number, number] {
    const per = 256 / this.bytesPer;
    const padded = Math.ceil(size / per) * per;
    const last = this.floats.length - 1;
    if (last >= 0 && (this.floats[last] + padded) * this.bytesPer <= this.bytes) {
      const offset = this.floats[last];
      this.floats[last] += padded;
      return [last, offset];
    }
    this.floats.push(padded);
    return [last + 1, 0];
  }
}

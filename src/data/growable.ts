/**
 * Typed arrays that grow in place (resizable ArrayBuffers): a token stream is built without knowing its
 * length, and growing never holds an old and a new copy at once, so memory stays near the stream's size.
 */

/** The typed arrays a growable list can hold. */
export type GrowableKind = "u8" | "i32" | "f64";
type ArrayOf<K extends GrowableKind> = K extends "u8" ? Uint8Array : K extends "i32" ? Int32Array
: Float64Array;

const BYTES: Record<GrowableKind, number> = { u8: 1, i32: 4, f64: 8 };
/** Address space reserved per list; only what is used is backed by memory. */
const MAX_BYTES = 2 ** 36;
/**
 * Where a host refuses that much (V8 in Chromium caps a resizable buffer's maximum below 64 GiB): 4 GiB, more
 * than a browser tab holds, and few enough reservations that many lists fit V8's sandbox.
 */
const HOST_MAX_BYTES = 2 ** 32;
let maxBytes = MAX_BYTES;

/** A resizable buffer of `bytes`, reserving the most the host allows. */
function resizable(bytes: number): ArrayBuffer {
  try {
    return new ArrayBuffer(bytes, { maxByteLength: maxBytes });
  } catch (e) {
    if (!(e instanceof RangeError) || maxBytes === HOST_MAX_BYTES) throw e;
    maxBytes = HOST_MAX_BYTES;
    return new ArrayBuffer(bytes, { maxByteLength: maxBytes });
  }
}

/** An append-only list of numbers backed by one resizable buffer. */
export class Growable<K extends GrowableKind> {
  #buffer: ArrayBuffer;
  #view: ArrayOf<K>;
  #length = 0;

  constructor(readonly kind: K, capacity = 1 << 16) {
    this.#buffer = resizable(capacity * BYTES[kind]);
    this.#view = this.#make();
  }

  #make(): ArrayOf<K> {
    const b = this.#buffer;
    return (this.kind === "u8"
      ? new Uint8Array(b)
      : this.kind === "i32"
      ? new Int32Array(b)
      : new Float64Array(b)) as ArrayOf<K>;
  }

  /** Number of values appended. */
  get length(): number {
    return this.#length;
  }

  /** Makes room for `extra` more values (growing by half again, at least). */
  #reserve(extra: number): void {
    const need = this.#length + extra;
    if (need <= this.#view.length) return;
    const max = this.#buffer.maxByteLength;
    const bytes = Math.min(max, Math.max(need, Math.ceil(this.#view.length * 1.5)) * BYTES[this.kind]);
    if (need * BYTES[this.kind] > max) {
      throw new RangeError(`a token stream of ${need} values is too long`);
    }
    this.#buffer.resize(bytes);
    this.#view = this.#make();
  }

  /** Appends one value. */
  push(value: number): void {
    this.#reserve(1);
    this.#view[this.#length++] = value;
  }

  /** Appends many values. */
  append(values: ArrayLike<number>): void {
    this.#reserve(values.length);
    this.#view.set(values, this.#length);
    this.#length += values.length;
  }

  /** Appends `count` copies of `value`. */
  fill(value: number, count: number): void {
    this.#reserve(count);
    this.#view.fill(value, this.#length, this.#length + count);
    this.#length += count;
  }

  /** The values so far (a view: later appends may replace the buffer it looks at). */
  view(): ArrayOf<K> {
    return this.#view.subarray(0, this.#length) as ArrayOf<K>;
  }

  /** The values, shrinking the buffer to fit; the list must not be appended to afterwards. */
  done(): ArrayOf<K> {
    this.#buffer.resize(this.#length * BYTES[this.kind]);
    this.#view = this.#make();
    return this.#view;
  }
}

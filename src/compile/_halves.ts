/** f32 values as f16 bits for upload: rounded to nearest even, refusing values f16 cannot hold. */

/** Largest finite f16. */
const F16_MAX = 65504;

/**
 * `values` rounded to f16, padded to a whole number of 32-bit words (as writeBuffer needs). Throws, naming
 * the parameter and the first offending element (counted from `offset`, where a piece of a weight starts),
 * for a finite value beyond f16's range or a non-finite one.
 */
export function toHalves(name: string, values: Float32Array, offset = 0): Uint16Array<ArrayBuffer> {
  const halves = new Float16Array(values.length + (values.length % 2));
  halves.set(values);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(halves[i])) {
      const what = Number.isFinite(values[i])
        ? `beyond f16's range (±${F16_MAX}): keep frozen weights in f32 (frozenDtype "f32")`
        : "not finite";
      throw new RangeError(`parameter ${name}: element ${offset + i} is ${values[i]}, ${what}`);
    }
  }
  return new Uint16Array(halves.buffer);
}

/**
 * `values` rounded to bf16 (the upper 16 bits of an f32, rounded to nearest even; exact for weights read from
 * a bf16 checkpoint), padded to whole 32-bit words. Throws, naming the parameter and the first offending
 * element, for a value that is not finite or rounds past bf16's largest finite value.
 */
export function toBfloat16(name: string, values: Float32Array, offset = 0): Uint16Array<ArrayBuffer> {
  const bits = new Uint32Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(values.length + (values.length % 2));
  for (let i = 0; i < values.length; i++) {
    const b = bits[i];
    const rounded = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    if (!Number.isFinite(values[i]) || (rounded & 0x7f80) === 0x7f80) {
      const what = Number.isFinite(values[i]) ? "beyond bf16's range" : "not finite";
      throw new RangeError(`parameter ${name}: element ${offset + i} is ${values[i]}, ${what}`);
    }
    out[i] = rounded;
  }
  return out;
}

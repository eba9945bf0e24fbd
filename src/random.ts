/**
 * The one seeded PRNG of mixtune (xoshiro128**): data sampling and shuffling, adapter inits, evaluation
 * pair subsets. Its whole state is four plain numbers, so it can be checkpointed.
 */

/** The four 32-bit words of an {@link Rng}'s state, as plain unsigned numbers. */
export type RngState = [number, number, number, number];

const GOLDEN = 0x9e3779b9;

/** murmur3's 32-bit finaliser: a bijective avalanche on one word. */
function fmix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Splits a safe integer into its low and high 32-bit words (two's complement for negatives). */
function words(value: number): [number, number] {
  if (!Number.isSafeInteger(value)) throw new RangeError(`seed must be a safe integer, found ${value}`);
  const lo = value >>> 0;
  const hi = Math.floor(value / 4294967296) >>> 0;
  return [lo, hi];
}

/** Derives a state from a seed and stream keys, so `(seed, domain, epoch)` each get an independent stream. */
export function seedState(seed: number, ...keys: number[]): RngState {
  let h = GOLDEN;
  for (const value of [seed, ...keys]) {
    for (const w of words(value)) h = fmix32((h ^ w) + GOLDEN);
  }
  const s: RngState = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) s[i] = fmix32(h + Math.imul(i + 1, GOLDEN));
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point
  return s;
}

/** xoshiro128** (Blackman and Vigna): fast, 2^128 - 1 period, good enough for sampling and shuffling. */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  /** A generator for `seed`, optionally on the independent stream named by `keys`. */
  constructor(seed: number, ...keys: number[]) {
    [this.#s0, this.#s1, this.#s2, this.#s3] = seedState(seed, ...keys);
  }

  /** A generator continuing from a saved {@link RngState}. */
  static fromState(state: RngState): Rng {
    const ok = Array.isArray(state) && state.length === 4 &&
      state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff);
    if (!ok || (state[0] | state[1] | state[2] | state[3]) === 0) {
      throw new RangeError(
        `rng state must be four unsigned 32-bit integers, not all zero; found ${JSON.stringify(state)}`,
      );
    }
    const rng = new Rng(0);
    [rng.#s0, rng.#s1, rng.#s2, rng.#s3] = state;
    return rng;
  }

  /** The current state as plain numbers (a copy). */
  state(): RngState {
    return [this.#s0, this.#s1, this.#s2, this.#s3];
  }

  /** The next unsigned 32-bit integer. */
  u32(): number {
    const s1 = this.#s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    this.#s0 >>>= 0;
    this.#s1 >>>= 0;
    this.#s2 >>>= 0;
    this.#s3 >>>= 0;
    return r;
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.u32() >>> 5;
    const b = this.u32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** A uniform integer in [0, n), without modulo bias; n must be in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new RangeError(`int(n) needs an integer n in [1, 2^32], found ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** A standard normal draw (Box-Muller; one of the pair is dropped so the state stays four words). */
  normal(): number {
    const u = 1 - this.float(); // (0, 1]: log stays finite
    const v = this.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A seeded permutation of 0..n-1 as an Int32Array. */
export function permutation(n: number, seed: number, ...keys: number[]): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return new Rng(seed, ...keys).shuffle(out);
}

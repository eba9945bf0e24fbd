/** A small seeded pseudo-random generator: reproducible adapter inits and pair subsets on any machine. */

/** Mixes integers into one 32-bit seed, so that streams for (seed, layer, branch) do not overlap. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    // murmur3-style finaliser per part: nearby inputs give unrelated seeds
    h ^= Math.imul(p | 0, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** Mulberry32 uniform generator with Box-Muller normals; its state is one 32-bit integer. */
export class Rng {
  #state: number;
  #spare: number | null = null;

  /** Starts a stream from a 32-bit seed (other numbers are truncated to 32 bits). */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  uniform(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal N(0, 1) by Box-Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u1 = 1 - this.uniform(); // in (0, 1]: log stays finite
    const u2 = this.uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    this.#spare = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }
}

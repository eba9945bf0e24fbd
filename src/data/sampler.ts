/** The domain sampler: which domain and which example fills each batch row, reproducibly and resumably. */

import { MixError } from "./errors.ts";
import { phaseBoundaries } from "./mix/schedule.ts";
import { checkStrategy, type MixAt, mixAt, type MixStrategy } from "./mix/strategy.ts";
import { permutation, Rng, type RngState } from "../random.ts";

/** How to build a {@link Sampler}. */
export interface SamplerOptions {
  /** Examples in each domain (see `domainSize`). */
  sizes: number[];
  strategy: MixStrategy;
  /** Steps in the stage; schedules are laid over [0, steps). */
  steps: number;
  seed: number;
}

/** Everything a sampler needs to continue exactly where it was: plain JSON. */
export interface SamplerState {
  version: 1;
  sizes: number[];
  strategy: MixStrategy;
  steps: number;
  seed: number;
  /** State of the generator that picks each row's domain. */
  rng: RngState;
  /** Examples drawn so far from each domain; epoch = floor(drawn / size), position = drawn % size. */
  drawn: number[];
}

/** One batch's draw: parallel arrays with one entry per batch row. */
export interface Draw {
  /** Domain of each row. */
  domain: Int32Array;
  /** Example index within the row's domain. */
  index: Int32Array;
  /** Loss weight of each row (1 except for scalarization). */
  weight: Float32Array;
}

/** Blocks of the midpoint sum for schedules that change every step (linear, cosine) on long stages. */
const BLOCKS = 65536;

// Stream keys keep the domain draws and each domain's per-epoch shuffles independent.
const STREAM_DRAW = 1;
const STREAM_ORDER = 2;

/**
 * Draws each batch row's domain from the strategy's probabilities at that step, then walks a seeded
 * permutation of the domain's examples, reshuffled every epoch.
 *
 * @example
 * ```ts
 * import { cooldownSchedule } from "./mix/schedule.ts";
 * const sampler = new Sampler({
 *   sizes: [300_000, 600],
 *   strategy: { kind: "temperature", schedule: cooldownSchedule() },
 *   steps: 1000,
 *   seed: 7,
 * });
 * const draw = sampler.next(32, 0); // draw.domain, draw.index, draw.weight: 32 rows each
 * const saved = JSON.stringify(sampler.state());
 * const resumed = Sampler.restore(JSON.parse(saved)); // continues the identical sequence
 * ```
 */
export class Sampler {
  readonly sizes: readonly number[];
  readonly strategy: MixStrategy;
  readonly steps: number;
  readonly seed: number;
  #rng: Rng;
  #drawn: number[];
  #order: ({ epoch: number; perm: Int32Array } | null)[];
  #cache: { key: string; at: MixAt; cdf: Float64Array } | null = null;

  constructor(options: SamplerOptions) {
    const { sizes, strategy, steps, seed } = options;
    checkStrategy(strategy, sizes);
    if (!Number.isSafeInteger(steps) || steps <= 0) {
      throw new MixError(`steps must be a positive integer, found ${steps}`);
    }
    if (!Number.isSafeInteger(seed)) throw new MixError(`seed must be a safe integer, found ${seed}`);
    this.sizes = [...sizes];
    this.strategy = structuredClone(strategy);
    this.steps = steps;
    this.seed = seed;
    this.#rng = new Rng(seed, STREAM_DRAW);
    this.#drawn = sizes.map(() => 0);
    this.#order = sizes.map(() => null);
  }

  /** A sampler that continues from a saved {@link SamplerState}. */
  static restore(state: SamplerState): Sampler {
    if (state?.version !== 1) {
      throw new MixError(`sampler state version must be 1, found ${JSON.stringify(state?.version)}`);
    }
    const sampler = new Sampler(state);
    const drawn = state.drawn;
    if (
      !Array.isArray(drawn) || drawn.length !== state.sizes.length ||
      !drawn.every((d) => Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new MixError(
        `sampler state "drawn" must be ${state.sizes.length} non-negative integers, found ${
          JSON.stringify(drawn)
        }`,
      );
    }
    try {
      sampler.#rng = Rng.fromState(state.rng);
    } catch (e) {
      throw new MixError(`sampler state "rng" is invalid: ${(e as Error).message}`);
    }
    sampler.#drawn = [...drawn];
    return sampler;
  }

  /** The sampler's state as plain JSON data (a copy). */
  state(): SamplerState {
    return {
      version: 1,
      sizes: [...this.sizes],
      strategy: structuredClone(this.strategy),
      steps: this.steps,
      seed: this.seed,
      rng: this.#rng.state(),
      drawn: [...this.#drawn],
    };
  }

  #mix(step: number): { at: MixAt; cdf: Float64Array } {
    const at = mixAt(this.strategy, this.sizes, step, this.steps);
    const key = at.temperature === null ? "fixed" : String(at.temperature);
    if (this.#cache?.key === key) return this.#cache;
    const cdf = new Float64Array(at.probabilities.length);
    let acc = 0;
    let last = 0;
    at.probabilities.forEach((p, i) => {
      acc += p;
      cdf[i] = acc;
      if (p > 0) last = i;
    });
    // Rounding can leave the total a hair under 1: the last drawable domain takes the rest.
    for (let i = last; i < cdf.length; i++) cdf[i] = 1;
    this.#cache = { key, at, cdf };
    return this.#cache;
  }

  /** Probability of drawing each domain at `step`. */
  probabilitiesAt(step: number): number[] {
    return [...this.#mix(step).at.probabilities];
  }

  /** Loss weight of an example of each domain at `step` (1 except for scalarization). */
  weightsAt(step: number): number[] {
    return [...this.#mix(step).at.weights];
  }

  /** The temperature in force at `step`, or null for weights and UniMax. */
  temperatureAt(step: number): number | null {
    return this.#mix(step).at.temperature;
  }

  /** Draws `batch` rows for `step`. */
  next(batch: number, step: number): Draw {
    if (!Number.isSafeInteger(batch) || batch <= 0) {
      throw new MixError(`batch must be a positive integer, found ${batch}`);
    }
    const { at, cdf } = this.#mix(step);
    const out: Draw = {
      domain: new Int32Array(batch),
      index: new Int32Array(batch),
      weight: new Float32Array(batch),
    };
    for (let row = 0; row < batch; row++) {
      const u = this.#rng.float();
      let lo = 0;
      let hi = cdf.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (u < cdf[mid]) hi = mid;
        else lo = mid + 1;
      }
      out.domain[row] = lo;
      out.index[row] = this.#take(lo);
      out.weight[row] = at.weights[lo];
    }
    return out;
  }

  #take(d: number): number {
    const n = this.sizes[d];
    const epoch = Math.floor(this.#drawn[d] / n);
    let order = this.#order[d];
    if (order === null || order.epoch !== epoch) {
      order = { epoch, perm: permutation(n, this.seed, STREAM_ORDER, d, epoch) };
      this.#order[d] = order;
    }
    const index = order.perm[this.#drawn[d] % n];
    this.#drawn[d]++;
    return index;
  }

  /** Examples drawn so far from each domain. */
  drawn(): number[] {
    return [...this.#drawn];
  }

  /** Epochs seen so far of each domain (drawn / size; fractional). */
  epochs(): number[] {
    return this.#drawn.map((d, i) => d / this.sizes[i]);
  }

  /**
   * Expected epochs of each domain after the first `steps` steps: sum over steps of batch * p_i / n_i.
   * In closed form per stretch of constant probabilities (fixed mixes, each phase of a step schedule), so a
   * stage of 1e12 steps plans at once. Linear and cosine schedules change every step: summed step by step
   * up to 65,536 steps, beyond that by the trapezoid rule over 65,536 equal blocks (relative error below 1e-8).
   */
  expectedEpochs(steps: number, batch: number): number[] {
    if (!Number.isSafeInteger(steps) || steps < 0 || steps > this.steps) {
      throw new MixError(`expectedEpochs steps must be an integer in [0, ${this.steps}], found ${steps}`);
    }
    const total = this.sizes.map(() => 0);
    const add = (step: number, count: number) =>
      this.#mix(step).at.probabilities.forEach((p, i) => total[i] += p * count);
    const s = this.strategy;
    const schedule = s.kind === "temperature" || s.kind === "scalarization" ? s.schedule : undefined;
    if (steps === 0) {
      // nothing drawn yet
    } else if (schedule === undefined || schedule.kind === "constant") {
      add(0, steps);
    } else if (schedule.kind === "step") {
      let start = 0;
      for (const end of phaseBoundaries(schedule.phases, this.steps)) {
        const stop = Math.min(end, steps);
        if (stop > start) add(start, stop - start);
        start = Math.max(start, end);
      }
    } else if (steps <= BLOCKS) {
      for (let step = 0; step < steps; step++) add(step, 1);
    } else {
      for (let b = 0; b < BLOCKS; b++) {
        const lo = Math.floor((b * steps) / BLOCKS);
        const hi = Math.floor(((b + 1) * steps) / BLOCKS);
        // the block's sum as its count times the mean of its first and last terms: exact where p is linear
        if (hi > lo) [lo, hi - 1].forEach((step) => add(step, (hi - lo) / 2));
      }
    }
    return total.map((p, i) => (p * batch) / this.sizes[i]);
  }
}

/**
 * Gates of quality-weighted dual LoRA: a per-example quality score (normalised to [0, 1], see
 * `quality_scale.ts`) becomes the weight g of branch 0 ("hq"); branch 1 ("lq") gets 1 - g.
 */

/**
 * How a quality score maps to g.
 * - `petalface`: g = clamp(0.5 + (score - threshold), 0, 1). PETALface's released code does not clamp
 *   (its alpha can leave [0, 1]); set `clamp: false` to reproduce that exactly.
 * - `linear`: 0 at or below `low`, 1 at or above `high`, linear between.
 * - `sigmoid`: g = 1 / (1 + exp(-(score - center) / temperature)).
 * - `threshold`: g = 1 when score >= threshold, else 0.
 */
export type GateMapping =
  | { kind: "petalface"; threshold: number; clamp?: boolean }
  | { kind: "linear"; low: number; high: number }
  | { kind: "sigmoid"; center: number; temperature: number }
  | { kind: "threshold"; threshold: number };

/** A gate mapping with invalid settings, or a score that is not a number. */
export class GateError extends RangeError {
  override name = "GateError";
}

/** Every problem with a mapping's settings (empty when it is valid). */
export function gateMappingProblems(mapping: GateMapping): string[] {
  const problems: string[] = [];
  const finite = (name: string, value: number): void => {
    if (!Number.isFinite(value)) {
      problems.push(`${mapping.kind} gate: ${name} must be a finite number, found ${value}`);
    }
  };
  switch (mapping.kind) {
    case "petalface":
    case "threshold":
      finite("threshold", mapping.threshold);
      break;
    case "linear":
      finite("low", mapping.low);
      finite("high", mapping.high);
      if (mapping.high <= mapping.low) {
        problems.push(
          `linear gate: high must be greater than low, found low ${mapping.low} and high ${mapping.high}`,
        );
      }
      break;
    case "sigmoid":
      finite("center", mapping.center);
      if (!(mapping.temperature > 0 && Number.isFinite(mapping.temperature))) {
        problems.push(`sigmoid gate: temperature must be a positive number, found ${mapping.temperature}`);
      }
      break;
    default:
      problems.push(`unknown gate kind ${JSON.stringify((mapping as { kind: unknown }).kind)}`);
  }
  return problems;
}

/** Compiles a mapping into a function of the score; throws GateError listing every invalid setting. */
export function gateFunction(mapping: GateMapping): (score: number) => number {
  const problems = gateMappingProblems(mapping);
  if (problems.length > 0) throw new GateError(problems.join("; "));
  switch (mapping.kind) {
    case "petalface": {
      const { threshold, clamp = true } = mapping;
      return clamp ? (s) => clamp01(0.5 + (s - threshold)) : (s) => 0.5 + (s - threshold);
    }
    case "linear": {
      const { low, high } = mapping;
      return (s) => clamp01((s - low) / (high - low));
    }
    case "sigmoid": {
      const { center, temperature } = mapping;
      return (s) => 1 / (1 + Math.exp(-(s - center) / temperature));
    }
    case "threshold": {
      const { threshold } = mapping;
      return (s) => (s >= threshold ? 1 : 0);
    }
  }
}

/** g for one score. */
export function gateValue(mapping: GateMapping, score: number): number {
  return gateValues(mapping, [score])[0];
}

/** g for each score; a NaN score is an error rather than a silent gate value. */
export function gateValues(mapping: GateMapping, scores: ArrayLike<number>): Float32Array {
  const f = gateFunction(mapping);
  const out = new Float32Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new GateError(`quality score ${i} is NaN`);
    out[i] = f(scores[i]);
  }
  return out;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Distribution of gate values of one domain: equal-width bins over [0, 1], plus values outside it. */
export interface GateHistogram {
  domain: string;
  count: number;
  /** Mean g, or null for a domain with no examples. */
  mean: number | null;
  /** `bins[k]` counts g in [k/bins, (k+1)/bins); the last bin also holds g = 1. */
  bins: number[];
  /** Values below 0 or above 1 (possible only with an unclamped petalface gate). */
  below: number;
  above: number;
}

/** Per-domain gate histograms for logging; `domain[i]` indexes `names`. */
export function gateHistogram(
  g: Float32Array,
  domain: Int32Array,
  names: string[],
  bins = 10,
): GateHistogram[] {
  if (g.length !== domain.length) {
    throw new GateError(`gate values (${g.length}) and domain indices (${domain.length}) differ in length`);
  }
  if (!(Number.isInteger(bins) && bins >= 1)) {
    throw new GateError(`bins must be a positive integer, found ${bins}`);
  }
  const out = names.map((name): GateHistogram & { sum: number } => ({
    domain: name,
    count: 0,
    mean: null,
    bins: new Array(bins).fill(0),
    below: 0,
    above: 0,
    sum: 0,
  }));
  for (let i = 0; i < g.length; i++) {
    const d = domain[i];
    if (d < 0 || d >= names.length) {
      throw new GateError(`domain index ${d} at example ${i} is outside [0, ${names.length})`);
    }
    const v = g[i];
    if (Number.isNaN(v)) throw new GateError(`gate value at example ${i} is NaN`);
    const h = out[d];
    h.count++;
    h.sum += v;
    if (v < 0) h.below++;
    else if (v > 1) h.above++;
    else h.bins[Math.min(Math.floor(v * bins), bins - 1)]++;
  }
  return out.map(({ sum, ...h }) => ({ ...h, mean: h.count > 0 ? sum / h.count : null }));
}

/**
 * Quality-score normalisation. Raw no-reference quality scores (sharpness, BRISQUE, ...) have arbitrary
 * units; a scale fitted once on reference data maps them to [0, 1]. The scale is written into the spec so
 * evaluation normalises with the training scale, not with statistics of the evaluation set.
 */

/** Raw scores at or below `low` map to 0, at or above `high` to 1. */
export interface QualityScale {
  low: number;
  high: number;
}

/** Reference scores that cannot define a scale. */
export class QualityScaleError extends RangeError {
  override name = "QualityScaleError";
}

/** Percentiles that bound the scale; the defaults ignore the most extreme 1% on each side. */
export interface QualityScaleOptions {
  /** Percentile in [0, 100) mapped to 0; default 1. */
  lowPercentile?: number;
  /** Percentile in (0, 100] mapped to 1; default 99. */
  highPercentile?: number;
}

/**
 * Fits a scale to reference scores: the 1st and 99th percentiles by default, robust to a few outliers that
 * min/max would let stretch the scale (use 0 and 100 for min/max). Percentiles interpolate linearly between
 * order statistics (position p/100 * (n - 1), numpy's default).
 */
export function fitQualityScale(raw: ArrayLike<number>, options: QualityScaleOptions = {}): QualityScale {
  const { lowPercentile = 1, highPercentile = 99 } = options;
  if (!(lowPercentile >= 0 && lowPercentile < highPercentile && highPercentile <= 100)) {
    throw new QualityScaleError(
      `percentiles must satisfy 0 <= low < high <= 100, found low ${lowPercentile} and high ${highPercentile}`,
    );
  }
  if (raw.length === 0) throw new QualityScaleError("cannot fit a quality scale to zero scores");
  const sorted = Float64Array.from(raw).sort();
  const bad = sorted.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new QualityScaleError(`reference scores must be finite, found ${sorted[bad]}`);
  const low = percentile(sorted, lowPercentile);
  const high = percentile(sorted, highPercentile);
  if (!(high > low)) {
    throw new QualityScaleError(
      `reference scores give an empty scale (percentile ${lowPercentile} = ${low}, percentile ${highPercentile} = ` +
        `${high}): the scores do not vary`,
    );
  }
  return { low, high };
}

/** Linear-interpolated percentile of ascending values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const position = (p / 100) * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
}

/** Maps one raw score to [0, 1] with a fitted scale, clamping scores outside it. */
export function normalizeQuality(raw: number, scale: QualityScale): number {
  if (Number.isNaN(raw)) throw new QualityScaleError("quality score is NaN");
  const q = (raw - scale.low) / (scale.high - scale.low);
  return q < 0 ? 0 : q > 1 ? 1 : q;
}

/** Maps every raw score to [0, 1]. */
export function normalizeQualities(raw: ArrayLike<number>, scale: QualityScale): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = normalizeQuality(raw[i], scale);
  return out;
}

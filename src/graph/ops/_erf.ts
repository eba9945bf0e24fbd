/**
 * Float64 erfc for the exact GELU's reference and gradient rule (JavaScript has no Math.erf): the Taylor
 * series of erf below 2, where 1 - erf loses at most a few digits, and the continued fraction above, so the
 * tail keeps its relative accuracy (about 1e-15) down to where exp underflows.
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erfc(x) = 1 - erf(x) in float64, accurate relative to its value for x >= 0. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x > 27) return 0; // exp(-x^2) underflows float64
  // modified Lentz on x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))
  let f = x, c = x, d = 0;
  for (let k = 1; k < 5000; k++) {
    const a = k / 2;
    d = 1 / (x + a * d);
    c = x + a / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** erf(x) by its Taylor series: 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)). */
function erfSeries(x: number): number {
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x * x / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** gelu(x) = x Phi(x) = 0.5 x erfc(-x / sqrt(2)), the exact (erf) GELU. */
export function geluErfValue(x: number): number {
  return 0.5 * x * erfc(-x * Math.SQRT1_2);
}

/** d/dx gelu(x) = Phi(x) + x phi(x). */
export function geluErfDerivative(x: number): number {
  const density = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  // beyond |x| ~ 39 the density underflows: the second term is exactly 0 (and x = +-inf would make it NaN)
  return 0.5 * erfc(-x * Math.SQRT1_2) + (density === 0 ? 0 : x * density);
}

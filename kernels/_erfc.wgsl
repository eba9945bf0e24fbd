// erfc(z) for z >= 0 as t exp(-z^2 + P(t)), t = 1 / (1 + z / 2) (Numerical Recipes' erfcc, a Chebyshev fit):
// its error is relative, under 1.2e-7, so the negative tail keeps its digits where 1 + erf(x) would cancel.
// Shared by the exact gelu kernels (unary, binary, binary_vec); each defines ErfF as f32 or vec4f.
fn erfc_pos(z: ErfF) -> ErfF {
  let t = 1.0 / (1.0 + 0.5 * z);
  let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(poly - z * z);
}

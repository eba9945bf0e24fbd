// g * gelu_tanh'(x), the formula of gelu_grad in kernels/binary.wgsl (same rounding, so a fused epilogue gives
// the values of the separate kernel). Written for vec4s; the alias lines are rewritten for the scalar kernel.
alias GeluF = vec4f;
alias GeluU = vec4u;
fn gelu_grad_at(x0: GeluF, g: GeluF) -> GeluF {
  let x = select(x0, clamp(x0, GeluF(-1e4), GeluF(1e4)), (bitcast<GeluU>(x0) & GeluU(0x7fffffffu)) <= GeluU(0x7f800000u));
  let e = exp(min(-2.0 * (0.7978845608028654 * (x + 0.044715 * x * x * x)), GeluF(80.0)));
  let s = 1.0 / (1.0 + e);
  let du = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
  return g * (s + x * s * (e * s) * 2.0 * du);
}

// out[i] = f(x[i]) for the unary op CODE (see UNARY_CODES in src/graph/ops/unary.ts). The const and alias
// lines below are rewritten per op and per width (one float or one vec4 a lane) by src/graph/ops/unary.ts, so
// the switch folds away at compile time.
struct Params { n: u32, code: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;

const CODE = 0u;
alias Elem = f32;

@group(0) @binding(1) var<storage, read> x: array<Elem>;
@group(0) @binding(2) var<storage, read_write> out: array<Elem>;

// Series near 0 (where (1 - e) / (1 + e) cancels), and no exp overflow for large |v|.
fn tanh_f(v: Elem) -> Elem {
  let av = abs(v);
  let v2 = v * v;
  let series = v * (1.0 + v2 * (-1.0 / 3.0 + v2 * (2.0 / 15.0 + v2 * (-17.0 / 315.0 + v2 * (62.0 / 2835.0)))));
  let e = exp(-2.0 * av);
  return select(sign(v) * (1.0 - e) / (1.0 + e), series, av < Elem(0.2));
}

// gelu_tanh(v) = 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): no cancellation for negative v.
fn gelu_f(v: Elem) -> Elem {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  return v / (1.0 + exp(min(-2.0 * u, Elem(80.0))));
}

// erfc_pos comes from kernels/_erfc.wgsl, prepended by src/graph/ops/unary.ts.
alias ErfF = Elem;

// gelu(v) = 0.5 v erfc(-v / sqrt(2)): erfc of |v| / sqrt(2) directly for v < 0, 2 - erfc for v >= 0 (and NaN).
fn gelu_erf_f(v: Elem) -> Elem {
  let c = erfc_pos(abs(v) * 0.7071067811865476);
  return 0.5 * v * select(2.0 - c, c, v < Elem(0.0));
}

fn f(v: Elem) -> Elem {
  switch CODE {
    case 0u: { return -v; }
    case 1u: { return exp(v); }
    case 2u: { return log(v); }
    case 3u: { return max(v, Elem(0.0)); }
    case 4u: { return gelu_f(v); }
    case 5u: { return sqrt(v); }
    case 6u: { return 1.0 / v; }
    case 7u: { return tanh_f(v); }
    case 8u: { return v * v; }
    case 9u: { return p.a * v + p.b; }
    case 10u: { return gelu_erf_f(v); }
    default: { return v; }
  }
}

// n counts Elems (floats, or vec4s in the four-a-lane variant).
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (i < p.n) { out[i] = f(x[i]); }
}

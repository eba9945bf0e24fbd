// out[i] = f(x[i]) for the unary op numbered `code` (see UNARY_CODES in src/graph/ops/unary.ts).
struct Params { n: u32, code: u32, a: f32, b: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Series near 0 (where (1 - e) / (1 + e) cancels), and no exp overflow for large |v|.
fn tanh_f(v: f32) -> f32 {
  let av = abs(v);
  if (av < 0.2) {
    let v2 = v * v;
    return v * (1.0 + v2 * (-1.0 / 3.0 + v2 * (2.0 / 15.0 + v2 * (-17.0 / 315.0 + v2 * (62.0 / 2835.0)))));
  }
  let e = exp(-2.0 * av);
  return sign(v) * (1.0 - e) / (1.0 + e);
}

// gelu_tanh(v) = 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): no cancellation for negative v.
fn gelu_f(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  return v / (1.0 + exp(min(-2.0 * u, 80.0)));
}

fn f(v: f32) -> f32 {
  switch p.code {
    case 0u: { return -v; }
    case 1u: { return exp(v); }
    case 2u: { return log(v); }
    case 3u: { return max(v, 0.0); }
    case 4u: { return gelu_f(v); }
    case 5u: { return sqrt(v); }
    case 6u: { return 1.0 / v; }
    case 7u: { return tanh_f(v); }
    case 8u: { return v * v; }
    case 9u: { return p.a * v + p.b; }
    default: { return v; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < p.n) { out[i] = f(x[i]); }
}

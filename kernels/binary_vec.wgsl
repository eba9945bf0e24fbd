// out = f(a, b) four elements a lane, for inputs that are the output's shape, repeat along the leading axes
// with a period (a bias [N] under [..., N]), or are one value; src/graph/ops/elementwise.ts checks that.
// Input k of the vec4 at i is x[i % period] (periods in vec4s; 1 and `splat` for a single value). The
// general broadcast (kernels/binary.wgsl) costs a division per axis and element; this is one per vec4.
struct Params { n4: u32, pa: u32, pb: u32, splat: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4f>;

const WG = 64u;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }

fn load_a(i: u32) -> vec4f {
  let v = a[i % p.pa];
  return select(v, vec4f(v.x), (p.splat & 1u) != 0u);
}

fn load_b(i: u32) -> vec4f {
  let v = b[i % p.pb];
  return select(v, vec4f(v.x), (p.splat & 2u) != 0u);
}

fn gelu_u(x: vec4f) -> vec4f { return 0.7978845608028654 * (x + 0.044715 * x * x * x); }

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  out[i] = load_a(i) + load_b(i);
}

@compute @workgroup_size(WG)
fn sub(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  out[i] = load_a(i) - load_b(i);
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  out[i] = load_a(i) * load_b(i);
}

@compute @workgroup_size(WG)
fn div(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  out[i] = load_a(i) / load_b(i);
}

// a = x, b = upstream gradient.
@compute @workgroup_size(WG)
fn relu_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  out[i] = select(vec4f(0.0), load_b(i), load_a(i) > vec4f(0.0));
}

// Same formula as gelu_grad in kernels/binary.wgsl, per component (x clamped to [-1e4, 1e4] against overflow, NaN kept).
@compute @workgroup_size(WG)
fn gelu_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  let x0 = load_a(i);
  let x = select(x0, clamp(x0, vec4f(-1e4), vec4f(1e4)), (bitcast<vec4u>(x0) & vec4u(0x7fffffffu)) <= vec4u(0x7f800000u));
  let e = exp(min(-2.0 * gelu_u(x), vec4f(80.0)));
  let s = 1.0 / (1.0 + e);
  let du = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
  out[i] = load_b(i) * (s + x * s * (e * s) * 2.0 * du);
}

// erfc_pos comes from kernels/_erfc.wgsl, prepended by src/graph/ops/elementwise.ts.
alias ErfF = vec4f;

// d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi(x) = erfc(-x / sqrt(2)) / 2; x clamped to [-1e4, 1e4] (x * x
// overflows above 1.8e19; the derivative is 1 or 0 there), a NaN kept.
@compute @workgroup_size(WG)
fn gelu_erf_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n4) { return; }
  let x0 = load_a(i);
  let x = select(x0, clamp(x0, vec4f(-1e4), vec4f(1e4)), (bitcast<vec4u>(x0) & vec4u(0x7fffffffu)) <= vec4u(0x7f800000u));
  let c = erfc_pos(abs(x) * 0.7071067811865476);
  let cdf = 0.5 * select(2.0 - c, c, x < vec4f(0.0));
  out[i] = load_b(i) * (cdf + x * 0.3989422804014327 * exp(-0.5 * x * x));
}

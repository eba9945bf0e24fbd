// out[i] = f(a[ia], b[ib]) with numpy broadcasting: out coordinates (up to 6 dims, padded with leading 1s)
// map to each input through its strides, 0 along broadcast axes. `same` bit 0/1: a/b match out exactly.
struct Params { n: u32, same: u32, _p0: u32, _p1: u32, dims: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG = 256u;

fn at(v: array<vec4u, 2>, k: u32) -> u32 { return v[k / 4u][k % 4u]; }

// Input offsets of a and b for output element i.
fn offsets(i: u32) -> vec2u {
  if (p.same == 3u) { return vec2u(i, i); }
  var rem = i;
  var off = vec2u(0u, 0u);
  for (var k = 5i; k >= 0; k--) {
    let d = at(p.dims, u32(k));
    let c = rem % d;
    rem = rem / d;
    off += c * vec2u(at(p.sa, u32(k)), at(p.sb, u32(k)));
  }
  if ((p.same & 1u) != 0u) { off.x = i; }
  if ((p.same & 2u) != 0u) { off.y = i; }
  return off;
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }

// gelu_tanh(x) = 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3); no cancellation.
fn gelu_u(x: f32) -> f32 { return 0.7978845608028654 * (x + 0.044715 * x * x * x); }

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  out[i] = a[o.x] + b[o.y];
}

@compute @workgroup_size(WG)
fn sub(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  out[i] = a[o.x] - b[o.y];
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  out[i] = a[o.x] * b[o.y];
}

@compute @workgroup_size(WG)
fn div(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  out[i] = a[o.x] / b[o.y];
}

// a = x, b = upstream gradient.
@compute @workgroup_size(WG)
fn relu_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  out[i] = select(0.0, b[o.y], a[o.x] > 0.0);
}

// d/dx [x s] with s = sigmoid(2u): s + x s (1 - s) 2 u'; 1 - s = e s with e = exp(-2u), clamped against overflow.
// Beyond |x| = 1e4 the derivative is 1 or 0 in f32, so x is clamped there (x * x overflows above 1.8e19); a NaN
// stays NaN (clamp of NaN may return a bound).
@compute @workgroup_size(WG)
fn gelu_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  let x0 = a[o.x];
  let x = select(x0, clamp(x0, -1e4, 1e4), (bitcast<u32>(x0) & 0x7fffffffu) <= 0x7f800000u);
  let e = exp(min(-2.0 * gelu_u(x), 80.0));
  let s = 1.0 / (1.0 + e);
  let du = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x);
  out[i] = b[o.y] * (s + x * s * (e * s) * 2.0 * du);
}

// erfc_pos comes from kernels/_erfc.wgsl, prepended by src/graph/ops/elementwise.ts.
alias ErfF = f32;

// d/dx [x Phi(x)] = Phi(x) + x phi(x), Phi(x) = erfc(-x / sqrt(2)) / 2; x clamped to [-1e4, 1e4] (x * x
// overflows above 1.8e19; the derivative is 1 or 0 there), a NaN kept.
@compute @workgroup_size(WG)
fn gelu_erf_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let o = offsets(i);
  let x0 = a[o.x];
  let x = select(x0, clamp(x0, -1e4, 1e4), (bitcast<u32>(x0) & 0x7fffffffu) <= 0x7f800000u);
  let c = erfc_pos(abs(x) * 0.7071067811865476);
  let cdf = 0.5 * select(2.0 - c, c, x < 0.0);
  out[i] = b[o.y] * (cdf + x * 0.3989422804014327 * exp(-0.5 * x * x));
}

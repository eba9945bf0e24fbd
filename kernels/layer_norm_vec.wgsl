// Layer norm and its input gradient with one lane per row and four elements a load, for rows that divide by 4
// (up to 256 on every adapter, up to 2,048 on CPU adapters): the lane-mode twin of kernels/layer_norm.wgsl (same entries, bindings and formulas;
// sums run over vec4 partials). Per-lane loads dominate on CPU adapters, and a vec4 load costs about half
// of four float loads.
struct Params { rows: u32, len: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
@group(0) @binding(2) var<storage, read> gamma: array<vec4f>;
@group(0) @binding(3) var<storage, read> third: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4f>;

const WG = 32u;

fn hsum(v: vec4f) -> f32 { return (v.x + v.y) + (v.z + v.w); }

// Sums run in blocks of BLOCK vec4s, each block's sum added to the total: a lane adds up its whole row alone,
// and blocks keep the rounding error of rows of thousands near that of a workgroup's tree (rows of up to
// 4 x BLOCK floats are one block, summed exactly as before).
const BLOCK = 16u;

// Row statistics at `base` (in vec4s): (x0, mean of x - x0, 1 / sqrt(variance + eps)), as in layer_norm.wgsl.
fn stats(base: u32) -> vec3f {
  let n4 = p.len / 4u;
  let x0 = x[base].x;
  var s = vec4f(0.0);
  for (var j0 = 0u; j0 < n4; j0 += BLOCK) {
    var t = vec4f(0.0);
    for (var j = j0; j < min(j0 + BLOCK, n4); j++) { t += x[base + j] - x0; }
    s += t;
  }
  let mean = hsum(s) / f32(p.len);
  var v = vec4f(0.0);
  for (var j0 = 0u; j0 < n4; j0 += BLOCK) {
    var t = vec4f(0.0);
    for (var j = j0; j < min(j0 + BLOCK, n4); j++) {
      let d = (x[base + j] - x0) - mean;
      t += d * d;
    }
    v += t;
  }
  return vec3f(x0, mean, 1.0 / sqrt(hsum(v) / f32(p.len) + p.eps));
}

fn xhat(base: u32, j: u32, st: vec3f) -> vec4f { return ((x[base + j] - st.x) - st.y) * st.z; }

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let base = row * (p.len / 4u);
  let st = stats(base);
  for (var j = 0u; j < p.len / 4u; j++) { out[base + j] = xhat(base, j, st) * gamma[j] + third[j]; }
}

// dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = g * gamma.
@compute @workgroup_size(WG)
fn dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let n4 = p.len / 4u;
  let base = row * n4;
  let st = stats(base);
  var a = vec4f(0.0);
  var b = vec4f(0.0);
  for (var j0 = 0u; j0 < n4; j0 += BLOCK) {
    var ta = vec4f(0.0);
    var tb = vec4f(0.0);
    for (var j = j0; j < min(j0 + BLOCK, n4); j++) {
      let gx = third[base + j] * gamma[j];
      ta += gx;
      tb += gx * xhat(base, j, st);
    }
    a += ta;
    b += tb;
  }
  let ma = hsum(a) / f32(p.len);
  let mb = hsum(b) / f32(p.len);
  for (var j = 0u; j < n4; j++) {
    out[base + j] = st.z * (third[base + j] * gamma[j] - ma - xhat(base, j, st) * mb);
  }
}

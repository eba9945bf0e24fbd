// Layer norm over each row of [rows, len] (biased variance), and its input gradient. Both entries bind
// x, gamma, a third row-shaped input (forward: beta [len]; dx: the output gradient g [rows, len]) and out.
struct Params { rows: u32, len: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> third: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Row statistics at `base`: (x0, mean of x - x0, 1 / sqrt(variance + eps)). Shifting by the row's first
// element keeps the sums small when the mean dwarfs the spread (x - x0 is then exact), and the variance is
// taken in a second pass, so neither cancels.
fn stats(base: u32, lid: u32) -> vec3f {
  let x0 = x[base];
  var s = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { s += x[base + j] - x0; }
  let mean = row_sum(s, lid) / f32(p.len);
  var v = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    let d = (x[base + j] - x0) - mean;
    v += d * d;
  }
  return vec3f(x0, mean, 1.0 / sqrt(row_sum(v, lid) / f32(p.len) + p.eps));
}

// The normalised element j of the row at `base`.
fn xhat(base: u32, j: u32, st: vec3f) -> f32 { return ((x[base + j] - st.x) - st.y) * st.z; }

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let st = stats(base, lid);
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    out[base + j] = xhat(base, j, st) * gamma[j] + third[j];
  }
}

// dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = g * gamma, xhat = (x - mean) * rstd.
@compute @workgroup_size(WG)
fn dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let st = stats(base, lid);
  var a = 0.0;
  var b = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    let gx = third[base + j] * gamma[j];
    a += gx;
    b += gx * xhat(base, j, st);
  }
  let ma = row_sum(a, lid) / f32(p.len);
  let mb = row_sum(b, lid) / f32(p.len);
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    out[base + j] = st.z * (third[base + j] * gamma[j] - ma - xhat(base, j, st) * mb);
  }
}

// Layer norm over each row of [rows, len] (biased variance), and its input gradient. Both entries bind
// x, gamma, a third row-shaped input (forward: beta [len]; dx: the output gradient g [rows, len]) and out.
struct Params { rows: u32, len: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> third: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// (mean, 1 / sqrt(variance + eps)) of the row at `base`; two passes, so large means do not cancel.
fn stats(base: u32, lid: u32) -> vec2f {
  var s = 0.0;
  for (var j = lid; j < p.len; j += WG) { s += x[base + j]; }
  let mean = row_sum(s, lid) / f32(p.len);
  var v = 0.0;
  for (var j = lid; j < p.len; j += WG) {
    let d = x[base + j] - mean;
    v += d * d;
  }
  return vec2f(mean, 1.0 / sqrt(row_sum(v, lid) / f32(p.len) + p.eps));
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let st = stats(base, lid);
  for (var j = lid; j < p.len; j += WG) {
    out[base + j] = (x[base + j] - st.x) * st.y * gamma[j] + third[j];
  }
}

// dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = g * gamma, xhat = (x - mean) * rstd.
@compute @workgroup_size(WG)
fn dx(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let st = stats(base, lid);
  var a = 0.0;
  var b = 0.0;
  for (var j = lid; j < p.len; j += WG) {
    let gx = third[base + j] * gamma[j];
    a += gx;
    b += gx * (x[base + j] - st.x) * st.y;
  }
  let ma = row_sum(a, lid) / f32(p.len);
  let mb = row_sum(b, lid) / f32(p.len);
  for (var j = lid; j < p.len; j += WG) {
    let xhat = (x[base + j] - st.x) * st.y;
    out[base + j] = st.y * (third[base + j] * gamma[j] - ma - xhat * mb);
  }
}

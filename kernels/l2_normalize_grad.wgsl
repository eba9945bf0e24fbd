// Backward of l2 normalize over rows of [rows, len]: with n the row norm and y = x / n,
// dx = (g - y * sum(g * y)) / n when n > eps, else g / eps (the floor is a constant).
struct Params { rows: u32, len: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  var s = 0.0;
  var d = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    s += x[base + j] * x[base + j];
    d += g[base + j] * x[base + j];
  }
  let n = sqrt(row_sum(s, lid));
  let gx = row_sum(d, lid);
  let inv = 1.0 / max(n, p.eps);
  let k = select(0.0, gx * inv * inv * inv, n > p.eps); // sum(g * y) / n = sum(g * x) / n^2, over n again
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { out[base + j] = g[base + j] * inv - x[base + j] * k; }
}

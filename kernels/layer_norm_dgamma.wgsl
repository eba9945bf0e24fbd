// Partial sums of g * xhat over chunks of `chunk` rows of [rows, len]: out[c, j] = sum over the rows of
// chunk c. One workgroup per chunk; its threads share each row's statistics and own columns j = lid + k*WG.
struct Params { rows: u32, len: u32, eps: f32, chunk: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let c = row_index(wid, nwg, lid);
  let first = c * p.chunk;
  if (first >= p.rows) { return; }
  let last = min(first + p.chunk, p.rows);
  let o = c * p.len;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { out[o + j] = 0.0; }
  for (var r = first; r < last; r++) {
    let base = r * p.len;
    // Same statistics as kernels/layer_norm.wgsl: shifted by the row's first element, two passes.
    let x0 = x[base];
    var s = 0.0;
    for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { s += x[base + j] - x0; }
    let mean = row_sum(s, lid) / f32(p.len);
    var v = 0.0;
    for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
      let d = (x[base + j] - x0) - mean;
      v += d * d;
    }
    let rstd = 1.0 / sqrt(row_sum(v, lid) / f32(p.len) + p.eps);
    for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { out[o + j] += g[base + j] * ((x[base + j] - x0) - mean) * rstd; }
  }
}

// Softmax over each row of [rows, len]. Causal: row r is query r % tq and sees keys 0..query only; the rest
// get probability 0 (and never enter the max or the sum).
struct Params { rows: u32, len: u32, causal: u32, tq: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  var seen = p.len;
  if (p.causal != 0u) { seen = min(row % p.tq + 1u, p.len); }
  var m = -BIG;
  for (var j = row_lane(lid); j < seen; j += ROW_LANES) { m = max(m, x[base + j]); }
  m = row_max(m, lid);
  var s = 0.0;
  for (var j = row_lane(lid); j < seen; j += ROW_LANES) { s += exp(x[base + j] - m); }
  let inv = 1.0 / row_sum(s, lid);
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    out[base + j] = select(0.0, exp(x[base + j] - m) * inv, j < seen);
  }
}

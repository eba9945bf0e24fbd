// Backward of softmax over each row of [rows, len]: out = y * (g - sum(g * y)), y the softmax output.
struct Params { rows: u32, len: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  var s = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { s += g[base + j] * y[base + j]; }
  let dot = row_sum(s, lid);
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { out[base + j] = y[base + j] * (g[base + j] - dot); }
}

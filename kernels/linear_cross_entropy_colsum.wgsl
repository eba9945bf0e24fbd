// A bias's gradient over one vocabulary chunk: out[c0 + j] = sum over rows of the chunk's gradient [rows, len].
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = (wid.y * nwg.x + wid.x) * 64u + lid;
  if (j >= p.len) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) { s += grad[r * p.len + j]; }
  out[p.c0 + j] = s;
}

// out[i] = x[offset + sum_k c_k * stride_k] over the coordinates c of out (up to 6 dims): copies, transposes,
// broadcasts (stride 0) and slices (offset) are all this one gather.
struct Params { n: u32, offset: u32, _p0: u32, _p1: u32, dims: array<vec4u, 2>, strides: array<vec4u, 2> }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn at(v: array<vec4u, 2>, k: u32) -> u32 { return v[k / 4u][k % 4u]; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  var rem = i;
  var off = p.offset;
  for (var k = 5i; k >= 0; k--) {
    let d = at(p.dims, u32(k));
    off += (rem % d) * at(p.strides, u32(k));
    rem = rem / d;
  }
  out[i] = x[off];
}

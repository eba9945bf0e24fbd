// out[i] = cond != 0 ? a : b, all three broadcast to out (strides 0 along broadcast axes, up to 6 dims).
struct Params {
  n: u32, _p0: u32, _p1: u32, _p2: u32,
  dims: array<vec4u, 2>, sc: array<vec4u, 2>, sa: array<vec4u, 2>, sb: array<vec4u, 2>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> cond: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn at(v: array<vec4u, 2>, k: u32) -> u32 { return v[k / 4u][k % 4u]; }

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  var rem = i;
  var off = vec3u(0u, 0u, 0u);
  for (var k = 5i; k >= 0; k--) {
    let d = at(p.dims, u32(k));
    let c = rem % d;
    rem = rem / d;
    off += c * vec3u(at(p.sc, u32(k)), at(p.sa, u32(k)), at(p.sb, u32(k)));
  }
  out[i] = select(b[off.z], a[off.y], cond[off.x] != 0.0);
}

// Backward of max over the middle axis of [outer, len, inner]: the row's gradient goes to its first arg-max.
struct Params { n: u32, len: u32, inner: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> arg: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let c = i % p.inner;
  let l = (i / p.inner) % p.len;
  let row = (i / (p.inner * p.len)) * p.inner + c;
  out[i] = select(0.0, g[row], u32(arg[row]) == l);
}

// Per-variant L2 norms of the flat gradient of K packed variants (vid[i]: the variant of element i).
// `partial`: workgroup (g, k) sums the squares of variant k's elements on its grid stride; `total`: one
// workgroup per variant adds its partial sums in a fixed order (deterministic) and stores the norm in
// state[8 k + 2].
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> vid: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var i = wid.x * 256u + lid;
  let stride = p.groups * 256u;
  while (i < p.n) {
    if (vid[i] == wid.y) {
      let g = grad[i];
      s = s + g * g;
    }
    i = i + stride;
  }
  sums[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { sums[lid] = sums[lid] + sums[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[wid.y * p.groups + wid.x] = sums[0]; }
}

// Global L2 norm of the flat gradient, in two passes: `partial` sums squares per workgroup, `total` adds
// the partial sums in a fixed order (deterministic) and stores the norm in state[2].
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var i = wid.x * 256u + lid;
  let stride = p.groups * 256u;
  while (i < p.n) {
    let g = grad[i];
    s = s + g * g;
    i = i + stride;
  }
  sums[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { sums[lid] = sums[lid] + sums[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[wid.x] = sums[0]; }
}

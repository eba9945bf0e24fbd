// Adds each variant's partial sums of squares (workgroup k: partials[k groups ..]) into state[8 k + 2].
struct Params { groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.groups; i = i + 256u) { s = s + partials[wid.x * p.groups + i]; }
  sums[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { sums[lid] = sums[lid] + sums[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { state[8u * wid.x + 2u] = sqrt(sums[0]); }
}

// Adds the per-workgroup partial sums of squares and writes the gradient norm into state[2].
struct Params { groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.groups; i = i + 256u) { s = s + partials[i]; }
  sums[lid] = s;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { sums[lid] = sums[lid] + sums[lid + w]; }
    workgroupBarrier();
  }
  if (lid == 0u) { state[2] = sqrt(sums[0]); }
}

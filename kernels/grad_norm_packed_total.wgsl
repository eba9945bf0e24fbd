// Combines each variant's (scale, ssq) pairs (workgroup k: partials[k groups ..]) in a fixed order and
// writes its norm, scale * sqrt(ssq), into state[8 k + 2].
struct Params { groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0, 0.0);
  for (var i = lid; i < p.groups; i = i + 256u) { acc = combine(acc, partials[wid.x * p.groups + i]); }
  let total = reduce_pairs(lid, acc);
  if (lid == 0u) { state[8u * wid.x + 2u] = total.x * sqrt(total.y); }
}

// Combines the per-workgroup (scale, ssq) pairs of grad_norm.wgsl in a fixed order (deterministic) and writes
// the gradient norm, scale * sqrt(ssq), into state[2]: finite whenever the norm itself fits in f32.
struct Params { groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0, 0.0);
  for (var i = lid; i < p.groups; i = i + 256u) { acc = combine(acc, partials[i]); }
  let total = reduce_pairs(lid, acc);
  if (lid == 0u) { state[2] = total.x * sqrt(total.y); }
}

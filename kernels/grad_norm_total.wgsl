// Combines the per-workgroup (scale, ssq) pairs of grad_norm.wgsl and writes the gradient norm,
// scale * sqrt(ssq), into state[2]: finite whenever the norm itself fits in f32.
struct Params { groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> state: array<f32>;

var<workgroup> pairs: array<vec2f, 256>;

fn combine(a: vec2f, b: vec2f) -> vec2f {
  let s = max(a.x, b.x);
  if (s == 0.0) { return vec2f(0.0, 0.0); }
  let ra = a.x / s;
  let rb = b.x / s;
  return vec2f(s, a.y * ra * ra + b.y * rb * rb);
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0, 0.0);
  for (var i = lid; i < p.groups; i = i + 256u) { acc = combine(acc, partials[i]); }
  pairs[lid] = acc;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { pairs[lid] = combine(pairs[lid], pairs[lid + w]); }
    workgroupBarrier();
  }
  if (lid == 0u) { state[2] = pairs[0].x * sqrt(pairs[0].y); }
}

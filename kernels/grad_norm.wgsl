// Global L2 norm of the flat gradient, in two passes: `partial` keeps per workgroup a pair (scale, ssq) with
// norm = scale * sqrt(ssq), scale the largest |g| seen, so squares never overflow (g * g does above 1.8e19);
// `total` combines the pairs in a fixed order (deterministic) and stores the norm in state[2].
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec2f>;

var<workgroup> pairs: array<vec2f, 256>;

// (scale, ssq) of the union of two sets of values.
fn combine(a: vec2f, b: vec2f) -> vec2f {
  let s = max(a.x, b.x);
  if (s == 0.0) { return vec2f(0.0, 0.0); }
  let ra = a.x / s;
  let rb = b.x / s;
  return vec2f(s, a.y * ra * ra + b.y * rb * rb);
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0, 0.0);
  var i = wid.x * 256u + lid;
  let stride = p.groups * 256u;
  while (i < p.n) {
    acc = combine(acc, vec2f(abs(grad[i]), 1.0));
    i = i + stride;
  }
  pairs[lid] = acc;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { pairs[lid] = combine(pairs[lid], pairs[lid + w]); }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[wid.x] = pairs[0]; }
}

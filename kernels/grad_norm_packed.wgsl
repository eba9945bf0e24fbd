// Per-variant L2 norms of the flat gradient of K packed variants (vid[i]: the variant of element i), with
// the overflow-free pairs of _scaled_norm.wgsl as grad_norm.wgsl: workgroup (g, k) keeps the (scale, ssq)
// pair of variant k's elements on its grid stride; grad_norm_packed_total.wgsl combines them per variant.
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> vid: array<u32>;
@group(0) @binding(3) var<storage, read_write> partials: array<vec2f>;

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0, 0.0);
  var i = wid.x * 256u + lid;
  let stride = p.groups * 256u;
  while (i < p.n) {
    if (vid[i] == wid.y) { acc = combine(acc, vec2f(abs(grad[i]), 1.0)); }
    i = i + stride;
  }
  let total = reduce_pairs(lid, acc);
  if (lid == 0u) { partials[wid.y * p.groups + wid.x] = total; }
}

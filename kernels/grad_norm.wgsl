// Global L2 norm of the flat gradient, in two passes (after _scaled_norm.wgsl): `partial` keeps per
// workgroup a (scale, ssq) pair; `total` (grad_norm_total.wgsl) combines them and stores the norm in state[2].
struct Params { n: u32, groups: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<vec2f>;

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  var acc = vec2f(0.0, 0.0);
  var i = wid.x * 256u + lid;
  let stride = p.groups * 256u;
  while (i < p.n) {
    acc = combine(acc, vec2f(abs(grad[i]), 1.0));
    i = i + stride;
  }
  let total = reduce_pairs(lid, acc);
  if (lid == 0u) { partials[wid.x] = total; }
}

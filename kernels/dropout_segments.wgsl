// dropout.wgsl for K packed variants: x is K segments of `seg` elements; segment k uses seed[k] and counts
// its elements from its own start, so each variant gets the mask it would get alone.
struct Params { n: u32, seg: u32, threshold: u32, salt: u32, keep_scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> seed: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn mix(v: u32) -> u32 {
  var h = v;
  h = (h ^ (h >> 16u)) * 0x7feb352du;
  h = (h ^ (h >> 15u)) * 0x846ca68bu;
  return h ^ (h >> 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let k = i / p.seg;
  let h = mix(mix(u32(seed[k]) ^ p.salt) ^ (i - k * p.seg));
  out[i] = select(0.0, x[i] * p.keep_scale, h >= p.threshold);
}

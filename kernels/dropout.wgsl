// Inverted dropout with a counter-based mask: element i is kept when hash(seed, salt, i) >= p * 2^32, so
// the backward pass (and the float64 reference) rebuild the same mask from the same seed, with no mask buffer.
struct Params { n: u32, threshold: u32, salt: u32, keep_scale: f32 }
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
  let h = mix(mix(u32(seed[0]) ^ p.salt) ^ i);
  out[i] = select(0.0, x[i] * p.keep_scale, h >= p.threshold);
}

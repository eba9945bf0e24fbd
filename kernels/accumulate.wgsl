// acc[i] += x[i]: metrics summed on the GPU over steps, read back only every N steps. acc[62] keeps the
// first step whose loss x[0] was not finite (0 while all were), so a NaN is reported at its exact step; acc[61]
// keeps the first step after which a trainable weight or Adam moment was not finite (flagged by adamw in state[5]).
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < p.n && id.x != 62u && id.x != 61u) { acc[id.x] = acc[id.x] + x[id.x]; }
  if (id.x == 61u && state[5] != 0.0) {
    if (acc[61] == 0.0) { acc[61] = state[4]; }
    state[5] = 0.0;
  }
  if (id.x == 62u && !finite(x[0]) && acc[62] == 0.0) { acc[62] = state[4]; }
}

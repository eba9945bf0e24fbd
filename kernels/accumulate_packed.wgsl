// Metric sums of K packed variants: x holds the losses [K] from 0 and the domain sums [K, D] from 64;
// variant k's sums live in acc[k stride ..] laid out as accumulate.wgsl's (loss at 0, the first step whose
// loss was not finite at 62, the first step after which a weight or Adam moment was not finite at 61, domain
// sums from 64). state is the packed optimiser's: variant k's step at 8 k + 4, its non-finite flag at 8 k + 7
// (set by adamw_packed.wgsl; read and cleared here by the one invocation that owns it).
struct Params { variants: u32, d: u32, stride: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> acc: array<f32>;
@group(0) @binding(3) var<storage, read_write> state: array<f32>;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x >= p.variants * p.stride) { return; }
  let k = id.x / p.stride;
  let j = id.x % p.stride;
  if (j == 0u) { acc[id.x] = acc[id.x] + x[k]; }
  if (j >= 64u && j < 64u + p.d) { acc[id.x] = acc[id.x] + x[64u + k * p.d + j - 64u]; }
  if (j == 62u && !finite(x[k]) && acc[id.x] == 0.0) { acc[id.x] = state[8u * k + 4u]; }
  if (j == 61u && state[8u * k + 7u] != 0.0) {
    if (acc[id.x] == 0.0) { acc[id.x] = state[8u * k + 4u]; }
    state[8u * k + 7u] = 0.0;
  }
}

// AdamW over the flat trainable buffer of K packed variants: element i belongs to variant vid[i] (K for
// alignment padding, left alone) and uses that variant's state [lr, 1 / (1 - beta1^t), grad norm,
// 1 / (1 - beta2^t), step, clip, weight decay, flag] at state[8 vid ..]. Otherwise the arithmetic of adamw.wgsl,
// and as there a new weight or moment that is not finite sets its variant's flag (state[8 vid + 7]) to 1;
// accumulate_packed.wgsl turns it into that variant's step number.
struct Params { n: u32, variants: u32, beta1: f32, beta2: f32, eps: f32, one_minus_beta1: f32, one_minus_beta2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> theta: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<storage, read> vid: array<u32>;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let k = vid[i];
  if (k >= p.variants) { return; }
  let s = 8u * k;
  let lr = state[s];
  let clip = state[s + 5u];
  var c = 1.0;
  if (clip > 0.0) { c = min(1.0, clip / (state[s + 2u] + 1e-6)); }
  let g = grad[i] * c;
  let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi * state[s + 1u];
  let vhat = vi * state[s + 3u];
  let t = theta[i];
  let next = t - lr * (mhat / (sqrt(vhat) + p.eps) + state[s + 6u] * mask[i] * t);
  theta[i] = next;
  // every writer stores the same value, so the race is harmless
  if (!(finite(next) && finite(mi) && finite(vi))) { state[s + 7u] = 1.0; }
}

// AdamW over the flat trainable buffer. state = [lr, 1 / (1 - beta1^t), grad norm, 1 / (1 - beta2^t)]:
// the bias corrections come from the host in float64, since 1 - 0.999 loses 4 digits in f32. Gradients are scaled by
// min(1, clip / (norm + 1e-6)) when clipping is on; weight decay is decoupled and masked per element.
// 1 - beta comes from the host too: 1 - f32(0.999) is 1.3e-5 off. state[5] is set to 1 when a new weight or
// moment is not finite; `accumulate` turns that into the step number, so weights are watched without a read-back.
struct Params { n: u32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32, clip: f32, one_minus_beta1: f32, one_minus_beta2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> theta: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
@group(0) @binding(5) var<storage, read> mask: array<f32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;

fn finite(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let lr = state[0];
  var k = 1.0;
  if (p.clip > 0.0) { k = min(1.0, p.clip / (state[2] + 1e-6)); }
  let g = grad[i] * k;
  let mi = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let mhat = mi * state[1];
  let vhat = vi * state[3];
  let t = theta[i];
  let next = t - lr * (mhat / (sqrt(vhat) + p.eps) + p.weight_decay * mask[i] * t);
  theta[i] = next;
  // every writer stores the same value, so the race is harmless
  if (!(finite(next) && finite(mi) && finite(vi))) { state[5] = 1.0; }
}

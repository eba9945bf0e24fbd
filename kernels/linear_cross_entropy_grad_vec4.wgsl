// The kept logits' gradient (linear_cross_entropy_grad.wgsl's formula) four elements a lane, for chunks whose
// length is a multiple of 4, so a vec4 never spans two rows: one fetch, four exps and one store a lane, where
// a scalar store costs a loop over the SIMD group's lanes on CPU adapters. The same operations per element,
// so the same bits as the scalar kernel.
@group(0) @binding(1) var<storage, read> logits: array<vec4f>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read> fwd: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<vec4f>;

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG + lid;
  let len4 = p.len / 4u;
  if (q >= p.rows * len4) { return; }
  let row = q / len4;
  let j = vec4u((q % len4) * 4u) + vec4u(0u, 1u, 2u, 3u);
  let y = label_of(labels[row]);
  let lse = fwd[row * 3u + 1u];
  let gl = select(g[row * 3u], 0.0, y == IGNORED);
  let gs = gl + g[row * 3u + 1u];
  let d = gs * exp(logits[q] - lse) - select(vec4f(0.0), vec4f(gl), vec4u(p.c0) + j == vec4u(y));
  grad[q] = select(d, vec4f(bitcast<f32>(p.nan)), y == INVALID);
}

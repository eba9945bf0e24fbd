// The kept logits' gradient (linear_cross_entropy_grad.wgsl's formula) four columns at a time, shared by the
// row-major (grad_vec4) and transposed (grad_t4) kernels: one fetch and four exps for columns 4 c4.. of `row`.
@group(0) @binding(1) var<storage, read> logits: array<vec4f>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read> fwd: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<vec4f>;

fn grad4(row: u32, c4: u32) -> vec4f {
  let j = vec4u(c4 * 4u) + vec4u(0u, 1u, 2u, 3u);
  let y = label_of(labels[row]);
  let lse = fwd[row * 3u + 1u];
  let gl = select(g[row * 3u], 0.0, y == IGNORED);
  let gs = gl + g[row * 3u + 1u];
  let d = gs * exp(logits[row * (p.len / 4u) + c4] - lse) - select(vec4f(0.0), vec4f(gl), vec4u(p.c0) + j == vec4u(y));
  return select(d, vec4f(bitcast<f32>(p.nan)), y == INVALID);
}

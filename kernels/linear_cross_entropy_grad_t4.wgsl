// The kept logits' gradient (linear_cross_entropy_grad.wgsl's formula) written transposed, [len, rows]: the
// backward product to the hidden states then reads it as a transposed A, along the rows, where the matmul's
// lanes fetch adjacent vec4s (a gradient [rows, len] read as a plain A puts the lanes' rows len floats apart).
// A 4x4 block a lane: four fetches of 4 logits, sixteen exps, four stores, the per-element operations of
// linear_cross_entropy_grad_vec4.wgsl, so the same bits. Needs rows and len multiples of 4.
@group(0) @binding(1) var<storage, read> logits: array<vec4f>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read> fwd: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<vec4f>;

const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG + lid;
  let rows4 = p.rows / 4u;
  let len4 = p.len / 4u;
  if (q >= rows4 * len4) { return; }
  // block (r4, c4): rows 4 r4.., columns 4 c4..; adjacent lanes take adjacent row groups, so adjacent stores
  let r4 = q % rows4;
  let c4 = q / rows4;
  let j = vec4u(c4 * 4u) + vec4u(0u, 1u, 2u, 3u);
  var d = mat4x4f();
  for (var r = 0u; r < 4u; r++) {
    let row = r4 * 4u + r;
    let y = label_of(labels[row]);
    let lse = fwd[row * 3u + 1u];
    let gl = select(g[row * 3u], 0.0, y == IGNORED);
    let gs = gl + g[row * 3u + 1u];
    let v = gs * exp(logits[row * len4 + c4] - lse) - select(vec4f(0.0), vec4f(gl), vec4u(p.c0) + j == vec4u(y));
    d[r] = select(v, vec4f(bitcast<f32>(p.nan)), y == INVALID);
  }
  // column c of the block is row 4 c4 + c of the transposed gradient
  let t = transpose(d);
  for (var c = 0u; c < 4u; c++) { grad[(c4 * 4u + c) * rows4 + r4] = t[c]; }
}

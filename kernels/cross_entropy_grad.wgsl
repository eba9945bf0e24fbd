// Gradient with respect to the logits: g_row * s * (softmax_j - [j == y]), times the margin's derivative
// at the label. A row whose label is not a class index gets NaN.
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let y = label(row);
  let t = margin_logit(logits[base + min(y, p.len - 1u)]);
  let zy = p.s * t.x;
  let st = softmax_stats(base, y, zy, lid);
  let gs = g[row] * p.s / st.y;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    let e = exp(z(base, j, y, zy) - st.x);
    let d = select(gs * e, (gs * e - g[row] * p.s) * t.y, j == y);
    out[base + j] = select(bitcast<f32>(p.nan), d, y < p.len);
  }
}

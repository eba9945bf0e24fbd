// Per-row loss: logsumexp(z) - z_y; NaN for a row whose label is not a class index.
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let y = label(row);
  let zy = p.s * margin_logit(logits[base + min(y, p.len - 1u)]).x;
  let st = softmax_stats(base, y, zy, lid);
  if (row_lane(lid) == 0u) { out[row] = select(bitcast<f32>(p.nan), st.x + log(st.y) - zy, y < p.len); }
}

// This chunk's logits turned into the loss gradient with respect to them:
// g_lse * softmax_j + g_loss * (softmax_j - [j == label]), from the forward's lse and the gradients of its
// (loss, lse) columns. An ignored row's loss is the constant 0, so only g_lse reaches it; a bad label gives NaN.
// One of two headers declares `logits` (binding 1) and `put`: in place, or into a separate output when the
// logits are kept for later readers.
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// the forward's [rows, 3] output and its gradient
@group(0) @binding(3) var<storage, read> fwd: array<f32>;
@group(0) @binding(4) var<storage, read> g: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  let y = label_of(labels[row]);
  let lse = fwd[row * 3u + 1u];
  let gl = select(g[row * 3u], 0.0, y == IGNORED);
  let gs = gl + g[row * 3u + 1u];
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) {
    let d = gs * exp(logits[base + j] - lse) - select(0.0, gl, p.c0 + j == y);
    put(base + j, select(d, bitcast<f32>(p.nan), y == INVALID));
  }
}

// Forward: out[b, t, head h] = softmax_j(scale q_t . k_j) v_j, one pass over the keys with an online softmax
// (running max m and sum l; the accumulated sum of v is rescaled whenever m grows), over keys key_start..t.
@group(0) @binding(2) var<storage, read_write> out: array<V>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_of(wid, nwg, lid);
  if (lane >= p.lanes) { return; }
  let x = coords(lane);
  var q: array<V, DHV>;
  let qa = at(x.b, x.t, 0u, x.h);
  for (var c = 0u; c < DHV; c++) { q[c] = qkv[qa + c]; }
  var acc: array<V, DHV>;
  var m = -BIG;
  var l = 0.0;
  for (var j = key_start(x.b, x.t); j < seen(x.t); j++) {
    let s = score(q, x.b, j, x.h);
    let mj = max(m, s);
    let r = exp(m - mj);
    let e = exp(s - mj);
    l = l * r + e;
    let v = at(x.b, j, 2u, x.h);
    for (var c = 0u; c < DHV; c++) { acc[c] = acc[c] * r + e * qkv[v + c]; }
    m = mj;
  }
  let o = at_out(x.b, x.t, x.h);
  for (var c = 0u; c < DHV; c++) { out[o + c] = acc[c] / l; }
}

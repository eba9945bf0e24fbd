// Backward to dqkv given the output gradient g [B, T, d], in two dispatches. `grad_q`, one lane per query i:
// recompute row i of P = softmax(S), dP_ij = g_i . v_j, dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij), dQ_i =
// scale sum_j dS_ij k_j; rows of P and dS go to the scratch buffers. `grad_kv`, one lane per key j, reads
// their columns: dK_j = scale sum_i dS_ij q_i, dV_j = sum_i P_ij g_i. Each writes its own columns of dqkv.
@group(0) @binding(2) var<storage, read> g: array<V>;
@group(0) @binding(3) var<storage, read_write> dqkv: array<V>;
// [B * H, T, T]: P and dS of each (example, head)
@group(0) @binding(4) var<storage, read_write> prob: array<f32>;
@group(0) @binding(5) var<storage, read_write> dscore: array<f32>;

@compute @workgroup_size(WG)
fn grad_q(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_of(wid, nwg, lid);
  if (lane >= p.lanes) { return; }
  let x = coords(lane);
  let n = seen(x.t);
  let f = key_start(x.b, x.t);
  var q: array<V, DHV>;
  var gi: array<V, DHV>;
  let qa = at(x.b, x.t, 0u, x.h);
  let ga = at_out(x.b, x.t, x.h);
  for (var c = 0u; c < DHV; c++) {
    q[c] = qkv[qa + c];
    gi[c] = g[ga + c];
  }
  // Row statistics, as the forward pass had them.
  var m = -BIG;
  var l = 0.0;
  for (var j = f; j < n; j++) {
    let s = score(q, x.b, j, x.h);
    let mj = max(m, s);
    l = l * exp(m - mj) + exp(s - mj);
    m = mj;
  }
  // Row i of this (example, head)'s [T, T] block.
  let row = lane * p.T;
  var rowsum = 0.0;
  for (var j = f; j < n; j++) {
    let pij = exp(score(q, x.b, j, x.h) - m) / l;
    let v = at(x.b, j, 2u, x.h);
    var dp = 0.0;
    for (var c = 0u; c < DHV; c++) { dp += vdot(gi[c], qkv[v + c]); }
    prob[row + j] = pij;
    dscore[row + j] = dp;
    rowsum += pij * dp;
  }
  var dq: array<V, DHV>;
  for (var j = f; j < n; j++) {
    let ds = prob[row + j] * (dscore[row + j] - rowsum);
    dscore[row + j] = ds;
    let k = at(x.b, j, 1u, x.h);
    for (var c = 0u; c < DHV; c++) { dq[c] += ds * qkv[k + c]; }
  }
  for (var c = 0u; c < DHV; c++) { dqkv[qa + c] = dq[c] * p.scale; }
}

@compute @workgroup_size(WG)
fn grad_kv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lane_of(wid, nwg, lid);
  if (lane >= p.lanes) { return; }
  let x = coords(lane);
  let j = x.t;
  var dk: array<V, DHV>;
  var dvj: array<V, DHV>;
  // Queries that see key j: all, or j.. when causal, and of those only j's example's when segmented.
  for (var i = select(0u, j, p.causal != 0u); i < p.T; i++) {
    if (key_start(x.b, i) > j) { continue; }
    let at_ij = (x.bh * p.T + i) * p.T + j;
    let pij = prob[at_ij];
    let ds = dscore[at_ij];
    let qa = at(x.b, i, 0u, x.h);
    let ga = at_out(x.b, i, x.h);
    for (var c = 0u; c < DHV; c++) {
      dk[c] += ds * qkv[qa + c];
      dvj[c] += pij * g[ga + c];
    }
  }
  let ka = at(x.b, j, 1u, x.h);
  let va = at(x.b, j, 2u, x.h);
  for (var c = 0u; c < DHV; c++) {
    dqkv[ka + c] = dk[c] * p.scale;
    dqkv[va + c] = dvj[c];
  }
}

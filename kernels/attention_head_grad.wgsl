// Backward to dqkv with one lane per (example, head), for short sequences: k, v and the dk, dv sums stay in
// private arrays while the lane walks the queries i: row i of S and P is recomputed, dP_ij = g_i . v_j,
// dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij), dQ_i = scale sum_j dS_ij k_j, and dK_j += scale dS_ij q_i,
// dV_j += P_ij g_i. TMAX = T is set per variant by src/graph/ops/attention.ts: loops over keys have that
// constant bound (keys a causal query does not see are masked), so private arrays are indexed by constants;
// lavapipe reads an array at a run-time index lane by lane, as slowly as a global load.
const TMAX = 16u;
@group(0) @binding(2) var<storage, read> g: array<V>;
@group(0) @binding(3) var<storage, read_write> dqkv: array<V>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = (wid.y * nwg.x + wid.x) * 8u + lid;
  if (lane >= p.lanes) { return; }
  let b = lane / p.H;
  let h = lane % p.H;
  var k: array<array<V, DHV>, TMAX>;
  var v: array<array<V, DHV>, TMAX>;
  var dk: array<array<V, DHV>, TMAX>;
  var dv: array<array<V, DHV>, TMAX>;
  for (var j = 0u; j < TMAX; j++) {
    let ka = at(b, j, 1u, h);
    let va = at(b, j, 2u, h);
    for (var c = 0u; c < DHV; c++) {
      k[j][c] = qkv[ka + c];
      v[j][c] = qkv[va + c];
    }
  }
  for (var i = 0u; i < TMAX; i++) {
    var q: array<V, DHV>;
    var gi: array<V, DHV>;
    let qa = at(b, i, 0u, h);
    let ga = at_out(b, i, h);
    for (var c = 0u; c < DHV; c++) {
      q[c] = qkv[qa + c];
      gi[c] = g[ga + c];
    }
    let n = seen(i);
    // Scores, then P in place; masked keys keep P = 0.
    var s: array<f32, TMAX>;
    var m = -BIG;
    for (var j = 0u; j < TMAX; j++) {
      var d = 0.0;
      for (var c = 0u; c < DHV; c++) { d += vdot(q[c], k[j][c]); }
      s[j] = d * p.scale;
      if (j < n) { m = max(m, s[j]); }
    }
    var l = 0.0;
    for (var j = 0u; j < TMAX; j++) {
      s[j] = select(0.0, exp(s[j] - m), j < n);
      l += s[j];
    }
    var dp: array<f32, TMAX>;
    var rowsum = 0.0;
    for (var j = 0u; j < TMAX; j++) {
      s[j] = s[j] / l;
      var d = 0.0;
      for (var c = 0u; c < DHV; c++) { d += vdot(gi[c], v[j][c]); }
      dp[j] = d;
      rowsum += s[j] * d;
    }
    // Zeroed by hand: a var declared in a loop body was not re-zeroed each iteration here (naga hoists it).
    var dq: array<V, DHV>;
    for (var c = 0u; c < DHV; c++) { dq[c] = V(); }
    for (var j = 0u; j < TMAX; j++) {
      let ds = s[j] * (dp[j] - rowsum) * p.scale;
      for (var c = 0u; c < DHV; c++) {
        dq[c] += ds * k[j][c];
        dk[j][c] += ds * q[c];
        dv[j][c] += s[j] * gi[c];
      }
    }
    for (var c = 0u; c < DHV; c++) { dqkv[qa + c] = dq[c]; }
  }
  for (var j = 0u; j < TMAX; j++) {
    let ka = at(b, j, 1u, h);
    let va = at(b, j, 2u, h);
    for (var c = 0u; c < DHV; c++) {
      dqkv[ka + c] = dk[j][c];
      dqkv[va + c] = dv[j][c];
    }
  }
}

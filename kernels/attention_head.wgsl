// Forward with one lane per (example, head) (lanes = B * H), for short sequences: the head's keys and values
// are loaded once into private arrays and serve all T queries, instead of once per query. TMAX = T is set
// per variant by src/graph/ops/attention.ts; the key loop has that constant bound so that the arrays are
// indexed by constants (see kernels/attention_head_grad.wgsl).
const TMAX = 16u;
@group(0) @binding(2) var<storage, read_write> out: array<V>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = (wid.y * nwg.x + wid.x) * 8u + lid;
  if (lane >= p.lanes) { return; }
  let b = lane / p.H;
  let h = lane % p.H;
  var k: array<array<V, DHV>, TMAX>;
  var v: array<array<V, DHV>, TMAX>;
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
    let qa = at(b, i, 0u, h);
    for (var c = 0u; c < DHV; c++) { q[c] = qkv[qa + c]; }
    // Zeroed by hand: a var declared in a loop body was not re-zeroed each iteration here (naga hoists it).
    var acc: array<V, DHV>;
    for (var c = 0u; c < DHV; c++) { acc[c] = V(); }
    var m = -BIG;
    var l = 0.0;
    for (var j = 0u; j < TMAX; j++) {
      var s = 0.0;
      for (var c = 0u; c < DHV; c++) { s += vdot(q[c], k[j][c]); }
      s *= p.scale;
      // Keys a causal query does not see leave m, l and acc as they are.
      let mj = select(m, max(m, s), j < seen(i));
      let r = exp(m - mj);
      let e = select(0.0, exp(s - mj), j < seen(i));
      l = l * r + e;
      for (var c = 0u; c < DHV; c++) { acc[c] = acc[c] * r + e * v[j][c]; }
      m = mj;
    }
    let o = at_out(b, i, h);
    for (var c = 0u; c < DHV; c++) { out[o + c] = acc[c] / l; }
  }
}

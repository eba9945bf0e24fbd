// Reduces the middle axis of an [outer, len, inner] view: out[o * inner + c] = reduce_l x[(o * len + l) * inner + c].
// mode 0: sum, 1: max, 2: index of the first max (as f32). Elements at flat index >= count are skipped, so a
// flat tensor can be cut into ragged rows. `tree`: one workgroup per row; `rows`: one thread per row.
struct Params { rows: u32, len: u32, inner: u32, count: u32, mode: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG = 256u;
const NONE = 0xffffffffu;

var<workgroup> sv: array<f32, WG>;
var<workgroup> si: array<u32, WG>;

struct Acc { v: f32, i: u32 }

// An empty accumulator: 0 for sums, index NONE for max (so -inf entries still win).
fn start() -> Acc { return Acc(0.0, NONE); }

// Sum, or keep the larger value and on ties the smaller index.
fn merge(a: Acc, b: Acc) -> Acc {
  if (p.mode == 0u) { return Acc(a.v + b.v, NONE); }
  if (a.i == NONE) { return b; }
  if (b.i == NONE) { return a; }
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) { return b; }
  return a;
}

fn result(a: Acc) -> f32 {
  if (p.mode == 2u) { return f32(a.i); }
  return a.v;
}

fn base(row: u32) -> u32 { return (row / p.inner) * p.len * p.inner + row % p.inner; }

@compute @workgroup_size(WG)
fn tree(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let b = base(row);
  var acc = start();
  for (var l = lid; l < p.len; l += WG) {
    let flat = b + l * p.inner;
    if (flat >= p.count) { break; }
    acc = merge(acc, Acc(x[flat], l));
  }
  sv[lid] = acc.v;
  si[lid] = acc.i;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) {
      let m = merge(Acc(sv[lid], si[lid]), Acc(sv[lid + s], si[lid + s]));
      sv[lid] = m.v;
      si[lid] = m.i;
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = result(Acc(sv[0], si[0])); }
}

@compute @workgroup_size(WG)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.y * nwg.x + wid.x) * WG + lid;
  if (row >= p.rows) { return; }
  let b = base(row);
  var acc = start();
  for (var l = 0u; l < p.len; l++) {
    let flat = b + l * p.inner;
    if (flat >= p.count) { break; }
    acc = merge(acc, Acc(x[flat], l));
  }
  out[row] = result(acc);
}

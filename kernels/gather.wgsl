// Row lookup and its deterministic backward; rows are `d` values, indices are exact integers stored as f32.
// A table larger than one binding is bound in pieces of rows: `src` (gather) or `out` (gather_grad) holds rows
// first.. first + rows of the whole table.
// `gather`: out[r, c] = table[idx[r], c] for the indices in the piece; with `all`, 0 for every other index
// (the first piece's call writes every element; the others only theirs).
// `gather_grad`: out[v, c] = sum of g[r, c] over the positions r with idx[r] == first + v, summed in order
// r = 0.. (no atomics, so every run gives the same bits).
struct Params { n: u32, d: u32, rows: u32, positions: u32, first: u32, all: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> idx: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Element i of `src` (the table's piece, or gather_grad's g). For a frozen table stored in 16 bits (f16 or
// bf16), src/graph/ops/gather.ts rewrites this line and src's binding to array<u32> (two values a word, the
// first in the low half); only the gather entry is used then.
fn srcAt(i: u32) -> f32 { return src[i]; }

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let v = i32(idx[i / p.d]) - i32(p.first);
  if (v >= 0 && v < i32(p.rows)) {
    out[i] = srcAt(u32(v) * p.d + i % p.d);
  } else if (p.all == 1u) {
    out[i] = 0.0;
  }
}

@compute @workgroup_size(256)
fn gather_grad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let v = i32(i / p.d + p.first);
  let c = i % p.d;
  var acc = 0.0;
  for (var r = 0u; r < p.positions; r++) {
    if (i32(idx[r]) == v) { acc += srcAt(r * p.d + c); }
  }
  out[i] = acc;
}

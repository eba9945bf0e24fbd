// Shared prefix of the row kernels (prepended in src/graph/ops/_rows.ts), workgroup mode: one workgroup of WG
// threads per row of a [rows, len] view; each thread strides over the row, then the workgroup reduces.
// kernels/_rows_lane.wgsl is the one-lane-per-row twin; bodies stride with row_lane(lid) and ROW_LANES.
const WG = 64u;
const ROW_LANES = WG;
const BIG = 3.402823e38;
var<workgroup> shared_row: array<f32, WG>;

// The row this workgroup owns; rows fold into y past 65,535 workgroups (see grid()).
fn row_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return wid.y * nwg.x + wid.x; }

// Where this thread starts striding over its row.
fn row_lane(lid: u32) -> u32 { return lid; }

// Sum of `v` over the workgroup, returned to every thread.
fn row_sum(v: f32, lid: u32) -> f32 {
  shared_row[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { shared_row[lid] = shared_row[lid] + shared_row[lid + s]; }
    workgroupBarrier();
  }
  let r = shared_row[0];
  workgroupBarrier(); // everyone has read the result before the next reduction overwrites it
  return r;
}

// Maximum of `v` over the workgroup, returned to every thread.
fn row_max(v: f32, lid: u32) -> f32 {
  shared_row[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { shared_row[lid] = max(shared_row[lid], shared_row[lid + s]); }
    workgroupBarrier();
  }
  let r = shared_row[0];
  workgroupBarrier();
  return r;
}


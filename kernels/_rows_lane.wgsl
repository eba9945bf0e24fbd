// Shared prefix of the row kernels, lane mode: each lane owns a whole row of a [rows, len] view and walks it
// alone, so there is no barrier and no workgroup memory. On CPU adapters a barrier makes the workgroup's SIMD
// groups run as coroutines (about 8 us a workgroup on lavapipe), which dwarfs rows of up to a few hundred.
const WG = 32u;
const ROW_LANES = 1u;
const BIG = 3.402823e38;

// The row this lane owns; workgroups fold into y past 65,535 (see grid()).
fn row_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }

fn row_lane(lid: u32) -> u32 { return 0u; }

// A lane's own partial is already the row's total.
fn row_sum(v: f32, lid: u32) -> f32 { return v; }

fn row_max(v: f32, lid: u32) -> f32 { return v; }


// C[b] = op(A[b]) op(B[b]) with op = identity or transpose, vec4 loads and stores.
// Needs K % 4 == 0, N % 4 == 0, and M % 4 == 0 when A is transposed (checked by the caller).
// Each lane accumulates RM rows x RN4 vec4 columns in registers. No workgroup memory: on CPU adapters
// every storage load is a per-lane gather, so the only lever is reuse of each loaded vec4 across many FMAs.
// The const lines below are rewritten per variant by src/graph/ops/matmul.ts.
struct Params {
  M: u32,
  N: u32,
  K: u32,
  // lanes of a workgroup laid along N; the rest go along M
  lanesX: u32,
  // elements between batch items of A and B (0 = shared by the whole batch)
  strideA: u32,
  strideB: u32,
  tilesM: u32,
  // row tiles times batch: workgroup (y, z) pairs past it return
  slices: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;

const RM = 4u;
const RN4 = 2u;
const WG = 8u;
const TRANS_A = false;
const TRANS_B = false;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let s = wid.z * nwg.y + wid.y;
  if (s >= p.slices) { return; }
  let batch = s / p.tilesM;
  let lanesY = WG / p.lanesX;
  let m0 = ((s % p.tilesM) * lanesY + lid / p.lanesX) * RM;
  let n40 = (wid.x * p.lanesX + lid % p.lanesX) * RN4;
  let baseA = batch * p.strideA / 4u;
  let baseB = batch * p.strideB / 4u;
  let M4 = p.M / 4u;
  let N4 = p.N / 4u;
  let K4 = p.K / 4u;

  // Loads use clamped rows and columns: lanes past the edge read valid memory and skip their stores.
  var rowA: array<u32, RM>;
  for (var i = 0u; i < RM; i++) {
    if (TRANS_A) { rowA[i] = min(m0 / 4u + i, M4 - 1u); } else { rowA[i] = baseA + min(m0 + i, p.M - 1u) * K4; }
  }
  var colB: array<u32, RN4 * 4u>;
  for (var j = 0u; j < RN4 * 4u; j++) {
    if (TRANS_B) { colB[j] = baseB + min(n40 * 4u + j, p.N - 1u) * K4; } else { colB[j] = min(n40 + j, N4 - 1u); }
  }

  var acc: array<array<vec4f, RN4>, RM>;
  for (var i = 0u; i < RM; i++) {
    for (var j = 0u; j < RN4; j++) { acc[i][j] = vec4f(0.0); }
  }
  for (var k4 = 0u; k4 < K4; k4++) {
    // av[i][q] = A(m0 + i, 4 k4 + q); bv[q][j] = B(4 k4 + q, 4 (n40 + j) .. + 3)
    var av: array<vec4f, RM>;
    var bv: array<array<vec4f, RN4>, 4>;
    if (TRANS_A) {
      for (var q = 0u; q < 4u; q++) {
        for (var g = 0u; g < RM / 4u; g++) {
          let v = a[baseA + (k4 * 4u + q) * M4 + rowA[g]];
          av[g * 4u][q] = v.x;
          av[g * 4u + 1u][q] = v.y;
          av[g * 4u + 2u][q] = v.z;
          av[g * 4u + 3u][q] = v.w;
        }
      }
    } else {
      for (var i = 0u; i < RM; i++) { av[i] = a[rowA[i] + k4]; }
    }
    if (TRANS_B) {
      for (var j = 0u; j < RN4 * 4u; j++) {
        let v = b[colB[j] + k4];
        bv[0][j / 4u][j % 4u] = v.x;
        bv[1][j / 4u][j % 4u] = v.y;
        bv[2][j / 4u][j % 4u] = v.z;
        bv[3][j / 4u][j % 4u] = v.w;
      }
    } else {
      for (var q = 0u; q < 4u; q++) {
        for (var j = 0u; j < RN4; j++) { bv[q][j] = b[baseB + (k4 * 4u + q) * N4 + colB[j]]; }
      }
    }
    for (var q = 0u; q < 4u; q++) {
      for (var i = 0u; i < RM; i++) {
        for (var j = 0u; j < RN4; j++) { acc[i][j] = fma(vec4f(av[i][q]), bv[q][j], acc[i][j]); }
      }
    }
  }

  let baseC = batch * p.M * N4;
  for (var i = 0u; i < RM; i++) {
    let m = m0 + i;
    for (var j = 0u; j < RN4; j++) {
      if (m < p.M && n40 + j < N4) { c[baseC + m * N4 + n40 + j] = acc[i][j]; }
    }
  }
}

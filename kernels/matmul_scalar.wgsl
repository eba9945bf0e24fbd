// C[b] = op(A[b]) op(B[b]), op = identity or transpose, for any M, N, K: the scalar-load twin of
// matmul.wgsl (same lane blocks and accumulators), used when a dimension is not a multiple of 4.
// Rows and columns past the edge are clamped for loading and not stored; k past K loads zeros.
// The const lines below are rewritten per variant (GM, GN in {1, 2, 4}) by src/graph/ops/_matmul_plan.ts.
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
  // periods of the epilogue's addends (in the output's elements: floats here, vec4s in matmul.wgsl)
  period0: u32,
  period1: u32,
  // elements between rows of C: N, or more when a call writes a column range of a wider output (a weight
  // read in pieces of its rows)
  ldc: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const GM = 2u;
const GN = 2u;
const WG = 8u;
const TRANS_A = false;
const TRANS_B = false;

// Output element i (an index into c) plus the addends of a fused `matmul_add`, each read at i % its period
// (a bias [N] repeats every row, a residual never). The line below is replaced, with the addends'
// bindings 4 and 5, by src/graph/ops/_matmul_plan.ts when there are addends.
fn epilogue(i: u32, v: f32) -> f32 { return v; }

const STEP = vec4u(0u, 1u, 2u, 3u);

// A(row, k0 .. k0 + 3), zero past K; `row` is an offset from rowsAt().
fn rowA(row: u32, k0: u32) -> vec4f {
  let s = select(1u, p.M, TRANS_A);
  let k = min(vec4u(k0) + STEP, vec4u(p.K - 1u)) * s;
  let v = vec4f(a[row + k.x], a[row + k.y], a[row + k.z], a[row + k.w]);
  return select(vec4f(0.0), v, vec4u(k0) + STEP < vec4u(p.K));
}

// The 4x4 block of A at rows `rows`, k = k0 .. k0 + 3, as Ab^T (column r = row r of the block).
fn loadA(rows: vec4u, k0: u32) -> mat4x4f {
  return mat4x4f(rowA(rows.x, k0), rowA(rows.y, k0), rowA(rows.z, k0), rowA(rows.w, k0));
}

// B at element i. For frozen weights stored in f16, _matmul_plan.ts rewrites this line and b's binding to
// array<u32> (two halves a word) read through unpack2x16float; the sums stay f32.
fn bAt(i: u32) -> f32 { return b[i]; }

// B(k, cols), zero past K; `cols` are offsets from colsAt().
fn rowB(cols: vec4u, k: u32) -> vec4f {
  let at = cols + vec4u(min(k, p.K - 1u) * select(p.N, 1u, TRANS_B));
  let v = vec4f(bAt(at.x), bAt(at.y), bAt(at.z), bAt(at.w));
  return select(vec4f(0.0), v, k < p.K);
}

// The 4x4 block of B at k = k0 .., columns `cols`, as Bb^T (column q = row k0 + q of the block).
fn loadB(cols: vec4u, k0: u32) -> mat4x4f {
  return mat4x4f(rowB(cols, k0), rowB(cols, k0 + 1u), rowB(cols, k0 + 2u), rowB(cols, k0 + 3u));
}

// Offsets of rows m .. m + 3 of A (clamped to the last row).
fn rowsAt(batch: u32, m: u32) -> vec4u {
  let r = min(vec4u(m) + STEP, vec4u(p.M - 1u));
  return batch * p.strideA + r * select(p.K, 1u, TRANS_A);
}

// Offsets of columns n .. n + 3 of B (clamped to the last column).
fn colsAt(batch: u32, n: u32) -> vec4u {
  let col = min(vec4u(n) + STEP, vec4u(p.N - 1u));
  return batch * p.strideB + col * select(1u, p.K, TRANS_B);
}

// Writes the 4x4 block at (m, n) of the output, dropping what lies outside C.
fn store(batch: u32, m: u32, n: u32, acc: mat4x4f) {
  let at = batch * p.M * p.ldc + m * p.ldc + n;
  for (var r = 0u; r < 4u; r++) {
    for (var q = 0u; q < 4u; q++) {
      if (m + r < p.M && n + q < p.N) { c[at + r * p.ldc + q] = epilogue(at + r * p.ldc + q, acc[r][q]); }
    }
  }
}

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
  let m0 = ((s % p.tilesM) * lanesY + lid / p.lanesX) * GM * 4u;
  let n0 = (wid.x * p.lanesX + lid % p.lanesX) * GN * 4u;
  // Lane block: rows m0 + 4i.., columns n0 + 4j.., i < GM, j < GN. Unused blocks are dead code and vanish.
  let ra0 = rowsAt(batch, m0);
  let ra1 = rowsAt(batch, m0 + 4u);
  let ra2 = rowsAt(batch, m0 + 8u);
  let ra3 = rowsAt(batch, m0 + 12u);
  let cb0 = colsAt(batch, n0);
  let cb1 = colsAt(batch, n0 + 4u);
  let cb2 = colsAt(batch, n0 + 8u);
  let cb3 = colsAt(batch, n0 + 12u);
  var acc00 = mat4x4f();
  var acc01 = mat4x4f();
  var acc02 = mat4x4f();
  var acc03 = mat4x4f();
  var acc10 = mat4x4f();
  var acc11 = mat4x4f();
  var acc12 = mat4x4f();
  var acc13 = mat4x4f();
  var acc20 = mat4x4f();
  var acc21 = mat4x4f();
  var acc22 = mat4x4f();
  var acc23 = mat4x4f();
  var acc30 = mat4x4f();
  var acc31 = mat4x4f();
  var acc32 = mat4x4f();
  var acc33 = mat4x4f();
  for (var k0 = 0u; k0 < p.K; k0 += 4u) {
    let a0 = loadA(ra0, k0);
    var a1 = mat4x4f();
    var a2 = mat4x4f();
    var a3 = mat4x4f();
    if (GM > 1u) { a1 = loadA(ra1, k0); }
    if (GM > 2u) { a2 = loadA(ra2, k0); a3 = loadA(ra3, k0); }
    let b0 = loadB(cb0, k0);
    var b1 = mat4x4f();
    var b2 = mat4x4f();
    var b3 = mat4x4f();
    if (GN > 1u) { b1 = loadB(cb1, k0); }
    if (GN > 2u) { b2 = loadB(cb2, k0); b3 = loadB(cb3, k0); }
    acc00 += b0 * a0;
    if (GN > 1u) { acc01 += b1 * a0; }
    if (GN > 2u) { acc02 += b2 * a0; acc03 += b3 * a0; }
    if (GM > 1u) {
      acc10 += b0 * a1;
      if (GN > 1u) { acc11 += b1 * a1; }
      if (GN > 2u) { acc12 += b2 * a1; acc13 += b3 * a1; }
    }
    if (GM > 2u) {
      acc20 += b0 * a2;
      acc30 += b0 * a3;
      if (GN > 1u) { acc21 += b1 * a2; acc31 += b1 * a3; }
      if (GN > 2u) { acc22 += b2 * a2; acc23 += b3 * a2; acc32 += b2 * a3; acc33 += b3 * a3; }
    }
  }
  store(batch, m0, n0, acc00);
  if (GN > 1u) { store(batch, m0, n0 + 4u, acc01); }
  if (GN > 2u) { store(batch, m0, n0 + 8u, acc02); store(batch, m0, n0 + 12u, acc03); }
  if (GM > 1u) {
    store(batch, m0 + 4u, n0, acc10);
    if (GN > 1u) { store(batch, m0 + 4u, n0 + 4u, acc11); }
    if (GN > 2u) { store(batch, m0 + 4u, n0 + 8u, acc12); store(batch, m0 + 4u, n0 + 12u, acc13); }
  }
  if (GM > 2u) {
    store(batch, m0 + 8u, n0, acc20);
    store(batch, m0 + 12u, n0, acc30);
    if (GN > 1u) { store(batch, m0 + 8u, n0 + 4u, acc21); store(batch, m0 + 12u, n0 + 4u, acc31); }
    if (GN > 2u) {
      store(batch, m0 + 8u, n0 + 8u, acc22);
      store(batch, m0 + 8u, n0 + 12u, acc23);
      store(batch, m0 + 12u, n0 + 8u, acc32);
      store(batch, m0 + 12u, n0 + 12u, acc33);
    }
  }
}

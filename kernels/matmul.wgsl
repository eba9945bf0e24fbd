// C[b] = op(A[b]) op(B[b]), op = identity or transpose, with vec4 loads and stores.
// Needs K % 4 == 0, N % 4 == 0, and M % 4 == 0 when A is transposed (the caller checks), so M, N >= 4
// wherever a clamp below subtracts 4.
// Each lane keeps a (4 GM) x (4 GN) block of C in registers as GM x GN mat4x4 accumulators and, per 4 steps
// of k, loads GM 4x4 blocks of A and GN of B. No workgroup memory: on CPU adapters every storage load is a
// per-lane gather, so what pays is reusing each loaded vec4 across many FMAs (a workgroup-memory tiled
// version measured 2-4 GFLOPS per CPU-second at 512^3 on lavapipe, against 8-13 for this one).
// Matrices are column-major: a block loaded row by row is its own transpose, so with Ab, Bb the 4x4 blocks,
// acc = C^T accumulates (Bb^T) * (Ab^T), and column r of acc is row r of the C block.
// The const lines below are rewritten per variant (GM, GN in {1, 2, 4}) by src/graph/ops/_matmul_plan.ts.
// With a second product the kernel computes op(A) op(B) + A2 B2^T (A2 [M, K2], B2 [N, K2]) before the epilogue.
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
  // periods of the epilogue's addends (in the output's elements: vec4s here, floats in the scalar twin)
  period0: u32,
  period1: u32,
  // elements between rows of C: N, or more when a call writes a column range of a wider output (a weight
  // read in pieces of its rows)
  ldc: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;

const GM = 2u;
const GN = 2u;
const WG = 8u;
const TRANS_A = false;
const TRANS_B = false;
// rewritten by src/graph/ops/_matmul_shared.ts
const INTERLEAVE = false;

// Output element i (an index into c) plus the addends of a fused `matmul_add`, each read at i % its period
// (a bias [N] repeats every row, a residual never). The line below is replaced, with the addends'
// bindings 4 and 5, by src/graph/ops/_matmul_plan.ts when there are addends.
fn epilogue(i: u32, v: vec4f) -> vec4f { return v; }

// The 4x4 block of A at rows `rows`, k = 4 k4 .. 4 k4 + 3, as Ab^T (column r = row r of the block).
// `rows` holds four row offsets (plain A) or, in .x, the offset of the 4-row group (transposed A).
fn loadA(rows: vec4u, k4: u32) -> mat4x4f {
  if (TRANS_A) {
    let M4 = p.M / 4u;
    let at = rows.x + k4 * 4u * M4;
    return transpose(mat4x4f(a[at], a[at + M4], a[at + 2u * M4], a[at + 3u * M4]));
  }
  return mat4x4f(a[rows.x + k4], a[rows.y + k4], a[rows.z + k4], a[rows.w + k4]);
}

// B's vec4 at i. For frozen weights stored in f16, _matmul_plan.ts rewrites this line and b's binding to
// array<vec2u> (four halves a vec4) read through unpack2x16float; the sums stay f32.
fn bAt(i: u32) -> vec4f { return b[i]; }

// The 4x4 block of B at k = 4 k4 .., columns `cols`, as Bb^T (column q = row k + q of the block).
// `cols` holds four column offsets (transposed B) or, in .x, the offset of the 4-column group (plain B).
fn loadB(cols: vec4u, k4: u32) -> mat4x4f {
  if (TRANS_B) {
    return transpose(mat4x4f(bAt(cols.x + k4), bAt(cols.y + k4), bAt(cols.z + k4), bAt(cols.w + k4)));
  }
  let N4 = p.N / 4u;
  let at = cols.x + k4 * 4u * N4;
  return mat4x4f(bAt(at), bAt(at + N4), bAt(at + 2u * N4), bAt(at + 3u * N4));
}

// Offsets (in vec4s) of rows m.. m + 3 for loadA. Rows past M are clamped: such lanes read valid memory
// and store nothing.
fn rowsAt(batch: u32, m: u32) -> vec4u {
  let base = batch * p.strideA / 4u;
  if (TRANS_A) { return vec4u(base + min(m, p.M - 4u) / 4u); }
  let r = min(vec4u(m) + vec4u(0u, 1u, 2u, 3u), vec4u(p.M - 1u));
  return base + r * (p.K / 4u);
}

fn colsAt(batch: u32, n: u32) -> vec4u {
  let base = batch * p.strideB / 4u;
  if (TRANS_B) {
    let col = min(vec4u(n) + vec4u(0u, 1u, 2u, 3u), vec4u(p.N - 1u));
    return base + col * (p.K / 4u);
  }
  return vec4u(base + min(n, p.N - 4u) / 4u);
}

// Writes the 4x4 block at (m, n) of the output, dropping what lies outside C.
fn store(batch: u32, m: u32, n: u32, acc: mat4x4f) {
  if (n >= p.N) { return; }
  let L4 = p.ldc / 4u;
  let at = batch * p.M * L4 + m * L4 + n / 4u;
  for (var r = 0u; r < 4u; r++) {
    if (m + r < p.M) { c[at + r * L4] = epilogue(at + r * L4, acc[r]); }
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
  // The lane's row blocks: GM consecutive ones, or with INTERLEAVE one every lanesY blocks (block i of lane
  // l at tile row 4 (l + lanesY i)), so that lanes reading a transposed A fetch adjacent vec4s.
  let tileRow = (s % p.tilesM) * lanesY * GM * 4u;
  let laneY = lid / p.lanesX;
  let m0 = select(tileRow + laneY * GM * 4u, tileRow + laneY * 4u, INTERLEAVE);
  let mStep = select(4u, 4u * lanesY, INTERLEAVE);
  let m1 = m0 + mStep;
  let m2 = m0 + 2u * mStep;
  let m3 = m0 + 3u * mStep;
  let n0 = (wid.x * p.lanesX + lid % p.lanesX) * GN * 4u;
  // Lane block: rows mi.. mi + 3, columns n0 + 4j.., i < GM, j < GN. Unused blocks are dead code and vanish.
  let ra0 = rowsAt(batch, m0);
  let ra1 = rowsAt(batch, m1);
  let ra2 = rowsAt(batch, m2);
  let ra3 = rowsAt(batch, m3);
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
  // shared B offsets: none
  for (var k4 = 0u; k4 < p.K / 4u; k4++) {
    let a0 = loadA(ra0, k4);
    var a1 = mat4x4f();
    var a2 = mat4x4f();
    var a3 = mat4x4f();
    if (GM > 1u) { a1 = loadA(ra1, k4); }
    if (GM > 2u) { a2 = loadA(ra2, k4); a3 = loadA(ra3, k4); }
    // B blocks: each lane loads its own (src/graph/ops/_matmul_shared.ts replaces these lines when shared)
    let b0 = loadB(cb0, k4);
    var b1 = mat4x4f();
    var b2 = mat4x4f();
    var b3 = mat4x4f();
    if (GN > 1u) { b1 = loadB(cb1, k4); }
    if (GN > 2u) { b2 = loadB(cb2, k4); b3 = loadB(cb3, k4); }
    // B blocks: end
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
  // A fused second product (a LoRA up-projection, bindings after the addends) is accumulated here; the line
  // below is replaced by src/graph/ops/_matmul_second.ts when there is one.
  // second product: none
  store(batch, m0, n0, acc00);
  if (GN > 1u) { store(batch, m0, n0 + 4u, acc01); }
  if (GN > 2u) { store(batch, m0, n0 + 8u, acc02); store(batch, m0, n0 + 12u, acc03); }
  if (GM > 1u) {
    store(batch, m1, n0, acc10);
    if (GN > 1u) { store(batch, m1, n0 + 4u, acc11); }
    if (GN > 2u) { store(batch, m1, n0 + 8u, acc12); store(batch, m1, n0 + 12u, acc13); }
  }
  if (GM > 2u) {
    store(batch, m2, n0, acc20);
    store(batch, m3, n0, acc30);
    if (GN > 1u) { store(batch, m2, n0 + 4u, acc21); store(batch, m3, n0 + 4u, acc31); }
    if (GN > 2u) {
      store(batch, m2, n0 + 8u, acc22);
      store(batch, m2, n0 + 12u, acc23);
      store(batch, m3, n0 + 8u, acc32);
      store(batch, m3, n0 + 12u, acc33);
    }
  }
}

/** How a matmul maps onto its kernels: sizes, batch strides, the register block per lane, the grid. */
import vecSource from "../../../kernels/matmul.wgsl" with { type: "text" };
import scalarSource from "../../../kernels/matmul_scalar.wgsl" with { type: "text" };
import geluGradSource from "../../../kernels/_gelu_grad.wgsl" with { type: "text" };
import { params } from "../../gpu/kernels.ts";
import { PIECE_BYTES, rowPieces } from "./_binding.ts";
import { type Shape, ShapeError, showShape, sizeOf } from "../node.ts";
import type { Half, KernelCall } from "../op.ts";
import { withSecondProduct } from "./_matmul_second.ts";
import { SHARED_LANES, withSharedB } from "./_matmul_shared.ts";
import { withTextures } from "./_textured.ts";

/** One matmul as the kernels see it: `batch` products of op(A) [M, K] and op(B) [K, N]. */
export interface MatmulDims {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Elements between consecutive batch items of A and B; 0 when one matrix serves the whole batch. */
  strideA: number;
  strideB: number;
  transA: boolean;
  transB: boolean;
  /** Elements between rows of C (default N): more when a call writes a column range of a wider output. */
  ldc?: number;
}

/**
 * A kernel variant: each lane holds a (4 gm) x (4 gn) block of C; `lanesX` of the `wg` lanes lie along N.
 * `sharedB`: the lanes (all along M) share B's blocks through subgroup broadcasts (_matmul_shared.ts).
 */
export interface MatmulBlock {
  gm: 1 | 2 | 4;
  gn: 1 | 2 | 4;
  lanesX: number;
  wg: number;
  sharedB?: boolean;
}

/** Sizes of `matmul(a, b)` and its output shape; throws ShapeError (showing both shapes) when they do not fit. */
export function matmulDims(
  a: Shape,
  b: Shape,
  transA: boolean,
  transB: boolean,
): { dims: MatmulDims; out: Shape } {
  const both = `a ${showShape(a)} and b ${showShape(b)}`;
  if (a.length < 2 || b.length < 2) {
    throw new ShapeError(`matmul: both operands need at least 2 dimensions, found ${both}`);
  }
  const [ar, ac] = a.slice(-2);
  const [br, bc] = b.slice(-2);
  const [M, Ka] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) {
    const axisA = transA ? "second-to-last" : "last";
    const axisB = transB ? "last" : "second-to-last";
    throw new ShapeError(
      `matmul: inner sizes differ for ${both} (transA ${transA}, transB ${transB}): ` +
        `K = ${Ka} from the ${axisA} axis of a, K = ${Kb} from the ${axisB} axis of b`,
    );
  }
  const batchA = a.slice(0, -2);
  const batchB = b.slice(0, -2);
  if (batchA.length > 0 && batchB.length > 0 && batchA.join() !== batchB.join()) {
    throw new ShapeError(
      `matmul: batch dimensions differ for ${both}: ${showShape(batchA)} vs ${showShape(batchB)}; ` +
        `they must be equal, or one operand must be 2-D`,
    );
  }
  const lead = batchA.length > 0 ? batchA : batchB;
  const dims: MatmulDims = {
    M,
    N,
    K: Ka,
    batch: sizeOf(lead),
    strideA: batchA.length > 0 ? M * Ka : 0,
    strideB: batchB.length > 0 ? Ka * N : 0,
    transA,
    transB,
  };
  return { dims, out: [...lead, M, N] };
}

/** Shared weights under a plain A: the batch folds into M ([B, M, K] is [B*M, K]), one bigger product. */
export function foldBatch(d: MatmulDims): MatmulDims {
  if (d.batch > 1 && d.strideB === 0 && !d.transA) return { ...d, M: d.M * d.batch, batch: 1, strideA: 0 };
  return d;
}

/** Whether the vec4 kernel applies: every vec4 it loads or stores lies along a dimension divisible by 4. */
export function vectorizable(d: MatmulDims): boolean {
  return d.K % 4 === 0 && d.N % 4 === 0 && (d.ldc ?? d.N) % 4 === 0 && (!d.transA || d.M % 4 === 0);
}

/**
 * What the epilogue does with the product and the addends: `add` sums them; `gelu_grad` takes one addend x
 * (the pre-activation, the output's shape) and stores product * gelu'(x), the backward of gelu fused into the
 * product that makes its incoming gradient.
 */
export type MatmulEpilogue = "add" | "gelu_grad";

/** Rows and columns of C one workgroup covers. */
export function tileOf(block: MatmulBlock): { rows: number; cols: number } {
  return { rows: (block.wg / block.lanesX) * 4 * block.gm, cols: block.lanesX * 4 * block.gn };
}

const MAX_GROUPS = 65535;

/**
 * The kernel call for `d` with `block` (inputs 0 and 1, output), plus up to two addends used by the
 * epilogue: addend k is read at (output element) % periods[k], periods in floats. The addends are inputs 2,
 * 3, or with a second product of inner size `K2` (A2 [M, K2] @ B2^T, inputs 2 and 3; vec4 kernel, unbatched
 * only) inputs 4, 5. With `halfB`, B is stored as f16 (frozen weights), two halves per 32-bit word.
 */
export function matmulCall(
  d: MatmulDims,
  block: MatmulBlock,
  periods: readonly number[] = [],
  opts: { epi?: MatmulEpilogue; K2?: number; halfB?: Half } = {},
): KernelCall {
  const { epi = "add", K2 } = opts;
  const vec = vectorizable(d);
  const ldc = d.ldc ?? d.N;
  if (ldc < d.N || (ldc !== d.N && (d.batch !== 1 || periods.length > 0 || K2 !== undefined))) {
    throw new Error(
      `matmul: a row stride of C (${ldc}) other than N (${d.N}) needs N <= it, one batch item and no addends`,
    );
  }
  if (K2 !== undefined && (!vec || d.batch !== 1 || d.transA || K2 % 4 !== 0)) {
    throw new Error(
      `matmul: a second product needs the vec4 kernel, one batch item, a plain A and K2 % 4 == 0 ` +
        `(M ${d.M}, K ${d.K}, N ${d.N}, batch ${d.batch}, K2 ${K2})`,
    );
  }
  if (periods.length > 2 || periods.some((q) => q < 1 || (vec && q % 4 !== 0))) {
    throw new Error(`matmul: addend periods ${periods} do not fit the ${vec ? "vec4" : "scalar"} kernel`);
  }
  if (block.sharedB && !vec) throw new Error("matmul: shared B blocks need the vec4 kernel");
  if (epi === "gelu_grad" && periods.length !== 1) {
    throw new Error(`matmul: the gelu_grad epilogue takes one addend (x), found ${periods.length}`);
  }
  const tile = tileOf(block);
  const tilesM = Math.ceil(d.M / tile.rows);
  const tilesN = Math.ceil(d.N / tile.cols);
  if (tilesN > MAX_GROUPS) throw new Error(`matmul: N = ${d.N} needs more than ${MAX_GROUPS} workgroups`);
  const slices = tilesM * d.batch;
  const y = Math.min(slices, MAX_GROUPS);
  const source = specialise(vec ? vecSource : scalarSource, block, d.transA, d.transB, periods.length, opts);
  // A and B (bindings 0 and 1) from textures; a 16-bit B as its packed words
  const names = ["a", "b"];
  return withTextures(
    {
      kernel: vec ? "matmul" : "matmul_scalar",
      source,
      ...(block.sharedB ? { subgroupSize: SHARED_LANES } : {}),
      params: params([
        ["u32", d.M],
        ["u32", d.N],
        ["u32", d.K],
        ["u32", block.lanesX],
        ["u32", d.strideA],
        ["u32", d.strideB],
        ["u32", tilesM],
        ["u32", slices],
        ["u32", periods[0] === undefined ? 0 : vec ? periods[0] / 4 : periods[0]],
        ["u32", periods[1] === undefined ? 0 : vec ? periods[1] / 4 : periods[1]],
        ["u32", ldc],
      ]),
      workgroups: [tilesN, y, Math.ceil(slices / y)],
      bind: [
        { in: 0 },
        { in: 1 },
        { out: true },
        ...periods.map((_, k) => ({ in: (K2 === undefined ? 2 : 4) + k })),
        ...(K2 === undefined ? [] : [{ in: 2 }, { in: 3 }]),
      ],
    },
    names,
    names.map((_, k) => k),
  );
}

/**
 * The call for `d` with the cost model's block, offering CPU adapters the shared-B variant with its own
 * block when the vec4 kernel applies.
 */
export function plannedCall(
  d: MatmulDims,
  periods: readonly number[] = [],
  opts: { epi?: MatmulEpilogue; K2?: number; halfB?: Half } = {},
): KernelCall {
  const call = matmulCall(d, chooseBlock(d), periods, opts);
  if (!vectorizable(d)) return call;
  return { ...call, onCpu: matmulCall(d, chooseSharedBlock(d), periods, opts) };
}

/**
 * The calls of a plain product whose weight B, read transposed ([N, K], one matrix for the whole product),
 * is larger than one binding (`pieceBytes`, default PIECE_BYTES): one call per piece of B's rows, each
 * writing its range of C's columns (a tied output projection [V, D] making logits [M, V]). Undefined when B
 * fits one binding or is not such a weight; the caller then makes one call.
 */
export function weightPieceCalls(
  d: MatmulDims,
  block: MatmulBlock | undefined,
  halfB: Half,
  pieceBytes = PIECE_BYTES,
): KernelCall[] | undefined {
  const bytes = halfB ? 2 : 4;
  if (!d.transB || d.batch !== 1 || d.N * d.K * bytes <= pieceBytes) return undefined;
  // a piece starts at a multiple of 256 / bytes rows: 256-byte offsets into B and into C's f32 rows
  return rowPieces(d.N, d.K, bytes, pieceBytes).map(({ first, rows }) => {
    const piece: MatmulDims = { ...d, N: rows, ldc: d.N };
    return {
      ...(block ? matmulCall(piece, block, [], { halfB }) : plannedCall(piece, [], { halfB })),
      bind: [
        { in: 0 },
        { in: 1, offset: first * d.K * bytes, size: rows * d.K * bytes },
        { out: true, offset: first * 4, size: ((d.M - 1) * d.N + rows) * 4 },
      ],
    };
  });
}

const specialised = new Map<string, string>();

/** The kernel source with its const lines set for this variant (cached, so pipelines are shared). */
function specialise(
  source: string,
  block: MatmulBlock,
  transA: boolean,
  transB: boolean,
  addends = 0,
  opts: { epi?: MatmulEpilogue; K2?: number; halfB?: Half } = {},
): string {
  const { epi = "add", K2, halfB = false } = opts;
  const shared = block.sharedB === true;
  const key = [
    source === vecSource,
    block.gm,
    block.gn,
    block.wg,
    transA,
    transB,
    addends,
    epi,
    K2,
    halfB,
    shared,
  ]
    .join(":");
  let text = specialised.get(key);
  if (text === undefined) {
    const set = (name: string, value: string) => (s: string) => {
      const line = new RegExp(`^const ${name} = .*;$`, "m");
      if (!line.test(s)) throw new Error(`matmul kernel lacks the line "const ${name} = ...;"`);
      return s.replace(line, `const ${name} = ${value};`);
    };
    text = [
      set("GM", `${block.gm}u`),
      set("GN", `${block.gn}u`),
      set("WG", `${block.wg}u`),
      set("TRANS_A", `${transA}`),
      set("TRANS_B", `${transB}`),
      (s: string) => shared ? withSharedB(s, block) : s,
      epilogue(source === vecSource, addends, epi),
      (s: string) => K2 === undefined ? s : withSecondProduct(s, block, K2, 4 + addends),
      halfWeights(source === vecSource, halfB),
    ].reduce((s, f) => f(s), source);
    specialised.set(key, text);
  }
  return text;
}

/**
 * Replaces the kernel's pass-through `fn epilogue` line with one adding `count` addends (bindings 4, 5), or
 * multiplying by gelu' of the one addend.
 */
function epilogue(vec: boolean, count: number, epi: MatmulEpilogue): (s: string) => string {
  const type = vec ? "vec4f" : "f32";
  return (s) => {
    const line = /^fn epilogue\(.*$/m;
    if (!line.test(s)) throw new Error(`matmul kernel lacks the line "fn epilogue(...) { return v; }"`);
    if (count === 0) return s;
    const decls = Array.from(
      { length: count },
      (_, k) => `@group(0) @binding(${4 + k}) var<storage, read> add${k}: array<${type}>;\n`,
    );
    if (epi === "gelu_grad") {
      const helper = vec
        ? geluGradSource
        : geluGradSource.replace("alias GeluF = vec4f;", "alias GeluF = f32;").replace(
          "alias GeluU = vec4u;",
          "alias GeluU = u32;",
        );
      const body = `return gelu_grad_at(add0[i % p.period0], v);`;
      return s.replace(
        line,
        `${decls.join("")}${helper}fn epilogue(i: u32, v: ${type}) -> ${type} { ${body} }`,
      );
    }
    const sum = Array.from({ length: count }, (_, k) => ` + add${k}[i % p.period${k}]`).join("");
    return s.replace(line, `${decls.join("")}fn epilogue(i: u32, v: ${type}) -> ${type} { return v${sum}; }`);
  };
}

/**
 * With `half`, B's binding becomes packed 16-bit values and `fn bAt` unpacks them. f16: unpack2x16float
 * (core WGSL) over `enable f16;` with f16 arrays: on lavapipe it measured as fast as f32 loads or faster,
 * where f16 arrays were up to 2x slower on some shapes (bench/NOTES.md), and it needs no device feature.
 * bf16: the upper half of an f32, so a shift or a mask is the exact value. The scalar twin picks its half
 * with `select`: indexing the unpacked vec2 made the patch embedding's matmul ~1.5x slower.
 */
function halfWeights(vec: boolean, half: Half): (s: string) => string {
  const binding = `var<storage, read> b: array<${vec ? "vec4f" : "f32"}>;`;
  const pair = half === "bf16"
    ? "fn pair(w: u32) -> vec2f { return vec2f(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); } "
    : "fn pair(w: u32) -> vec2f { return unpack2x16float(w); } ";
  const load = vec
    ? `${pair}fn bAt(i: u32) -> vec4f { return vec4f(pair(b[i].x), pair(b[i].y)); }`
    : `${pair}fn bAt(i: u32) -> f32 { let v = pair(b[i / 2u]); return select(v.y, v.x, i % 2u == 0u); }`;
  return (s) => {
    const line = /^fn bAt\(.*$/m;
    if (!line.test(s) || !s.includes(binding)) {
      throw new Error(`matmul kernel lacks "${binding}" or the line "fn bAt(...) { return b[i]; }"`);
    }
    if (!half) return s;
    return s.replace(binding, `var<storage, read> b: array<${vec ? "vec2u" : "u32"}>;`).replace(line, load);
  };
}

/** Lanes per workgroup: one 8-wide SIMD group of a CPU adapter. */
const WG = 8;
/** Workgroups that run at once (the adapter's threads on a CPU). */
const PARALLEL = Math.max(1, Math.min(16, navigator.hardwareConcurrency ?? 2));
/**
 * Cost model in nanoseconds per 8-lane group: loading one 4x4 block of A or B (four vec4 loads, or sixteen
 * scalar ones), one 4x4x4 block product, and a fixed cost per workgroup. Fitted to CPU times per dispatch of
 * bench/matmul_tune.ts on lavapipe (e.g. 512^3: 1.3 us per 4-step of k for a 16x16 lane block, 0.46 us
 * for 8x8, 0.25 us for 4x4). `broadcast` (one vec4 taken from another lane) is not fitted: set so that the
 * shared-B picks match the blocks measured fastest on the GPT-2 and ViT shapes (bench/NOTES.md).
 */
const COST = { loadVec: 90, loadScalar: 220, product: 25, perGroup: 500, broadcast: 20 };
/**
 * Register blocks tried. The scalar kernel stops at 8x8 per lane: larger blocks of scalar loads take
 * about a second to compile for little gain on the odd shapes it serves.
 */
const BLOCKS: Record<"vec" | "scalar", [1 | 2 | 4, 1 | 2 | 4][]> = {
  vec: [[1, 1], [1, 2], [2, 1], [2, 2], [1, 4], [4, 1], [2, 4], [4, 2], [4, 4]],
  scalar: [[1, 1], [1, 2], [2, 1], [2, 2]],
};

/** The register block and lane layout the cost model rates fastest for `d`. */
export function chooseBlock(d: MatmulDims): MatmulBlock {
  const vec = vectorizable(d);
  const blocks = BLOCKS[vec ? "vec" : "scalar"].flatMap(([gm, gn]) =>
    Array.from({ length: Math.log2(WG) + 1 }, (_, i) => ({ gm, gn, lanesX: 2 ** i, wg: WG }))
  );
  return cheapest(d, blocks, vec);
}

/** The shared-B block (all lanes along M) the cost model rates fastest for `d` (vec4 kernel only). */
export function chooseSharedBlock(d: MatmulDims): MatmulBlock {
  const blocks = BLOCKS.vec.map(([gm, gn]) => ({ gm, gn, lanesX: 1, wg: SHARED_LANES, sharedB: true }));
  return cheapest(d, blocks, true);
}

/** The first of `blocks` with the lowest estimate. */
function cheapest(d: MatmulDims, blocks: MatmulBlock[], vec: boolean): MatmulBlock {
  let best = blocks[0];
  let bestCost = Infinity;
  for (const block of blocks) {
    const cost = estimate(d, block, vec);
    if (cost < bestCost) [best, bestCost] = [block, cost];
  }
  return best;
}

/**
 * Estimated nanoseconds of `d` with `block`: workgroups run `PARALLEL` at a time, plus a tenth of the total
 * work (on a busy machine the threads do not all get a core, so padded tiles still cost). Near-ties go to
 * the squarer tile (1% per factor of 2 of aspect), whose operand panels share more cache lines.
 */
export function estimate(d: MatmulDims, block: MatmulBlock, vec = vectorizable(d)): number {
  const tile = tileOf(block);
  const aspect = 1 + 0.01 * Math.abs(Math.log2(tile.rows / tile.cols));
  const groups = Math.ceil(d.M / tile.rows) * Math.ceil(d.N / tile.cols) * d.batch;
  const steps = Math.ceil(d.K / 4);
  const load = vec ? COST.loadVec : COST.loadScalar;
  // shared B: a lane loads its share of B's 4 gn vec4s and takes the rest as broadcasts
  const loadsB = block.sharedB
    ? (Math.ceil((4 * block.gn) / block.wg) / 4) * load + block.gn * COST.broadcast
    : block.gn * load;
  const perStep = block.gm * load + loadsB + block.gm * block.gn * COST.product;
  const perGroup = COST.perGroup + (block.wg / 8) * steps * perStep;
  return (Math.ceil(groups / PARALLEL) + 0.1 * groups) * perGroup * aspect;
}

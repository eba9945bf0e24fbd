/**
 * The vec4 matmul kernel with B's blocks shared by the workgroup's lanes, for CPU adapters whose subgroup is
 * the whole 8-lane workgroup. All lanes lie along M, so every lane needs the same B blocks: instead of each
 * lane loading all 4 GN vec4s of them (the same addresses, one gather each on lavapipe), lane e loads vec4 e
 * and the others take it by `subgroupBroadcast`, a register shuffle there. The sums are the plain kernel's,
 * in the same order, so the bits are too.
 */
import type { MatmulBlock } from "./_matmul_plan.ts";

/** Lanes of a workgroup, and of the subgroup the variant needs: one subgroup a workgroup. */
export const SHARED_LANES = 8;

const OFFSETS = /^ {2}\/\/ shared B offsets: none$/m;
const BLOCKS = /^ {4}\/\/ B blocks: each lane loads its own.*\n(?:.*\n)*? {4}\/\/ B blocks: end$/m;
const LANE = "@builtin(local_invocation_index) lid: u32,";
const INTERLEAVE = /^const INTERLEAVE = false;$/m;

/** `source` (the specialised vec4 kernel of `block`, lanes all along M) with B's blocks shared. */
export function withSharedB(source: string, block: MatmulBlock): string {
  if (block.lanesX !== 1 || block.wg !== SHARED_LANES) {
    throw new Error(`matmul: shared B needs all ${SHARED_LANES} lanes along M (lanesX ${block.lanesX})`);
  }
  if (!OFFSETS.test(source) || !BLOCKS.test(source) || !source.includes(LANE) || !INTERLEAVE.test(source)) {
    throw new Error("matmul kernel lacks the shared-B markers");
  }
  // vec4 e (e = 4 j + q) of the lanes' B blocks at k4 = 0 is row q of block j as loadB reads it
  const fetches = Math.ceil((4 * block.gn) / SHARED_LANES);
  const offsets = [`  let sbStep = select(4u * (p.N / 4u), 1u, TRANS_B);`];
  for (let t = 0; t < fetches; t++) offsets.push(`  let sb${t} = sharedAt(batch, n0, sid + ${8 * t}u);`);
  const blocks: string[] = [];
  for (let t = 0; t < fetches; t++) blocks.push(`    let f${t} = bAt(sb${t} + k4 * sbStep);`);
  for (let j = 0; j < 4; j++) {
    if (j >= block.gn) {
      blocks.push(`    let b${j} = mat4x4f();`);
      continue;
    }
    const rows = [0, 1, 2, 3].map((q) => {
      const e = 4 * j + q;
      return `subgroupBroadcast(f${Math.floor(e / 8)}, ${e % 8}u)`;
    });
    blocks.push(`    let b${j} = orientB(mat4x4f(${rows.join(", ")}));`);
  }
  const helpers = `// Offset of vec4 e of the B blocks at columns n0.. for k4 = 0 (shared-B variant).
fn sharedAt(batch: u32, n0: u32, e: u32) -> u32 {
  if (TRANS_B) { return colsAt(batch, n0 + e).x; }
  return colsAt(batch, n0 + 4u * (e / 4u)).x + (e % 4u) * (p.N / 4u);
}

// A block of B from its four vec4s in load order, as loadB returns it.
fn orientB(m: mat4x4f) -> mat4x4f {
  if (TRANS_B) { return transpose(m); }
  return m;
}

`;
  const at = source.indexOf("@compute");
  // a transposed A is read along M: with the lanes' row blocks interleaved, the 8 lanes fetch adjacent vec4s
  return (source.slice(0, at) + helpers + source.slice(at))
    .replace(INTERLEAVE, "const INTERLEAVE = TRANS_A;")
    .replace(LANE, `${LANE}\n  @builtin(subgroup_invocation_id) sid: u32,`)
    .replace(OFFSETS, offsets.join("\n"))
    .replace(BLOCKS, blocks.join("\n"));
}

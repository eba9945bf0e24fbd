/**
 * The second product of a fused `matmul2_add`: A2 [M, K2] times B2^T (B2 [N, K2], a LoRA up-projection),
 * accumulated into the vec4 matmul kernel's registers after its own K loop, so the sum reaches the epilogue
 * once. K2 is baked into the source (a rank is fixed for a model), so its loop has a constant bound.
 */
import type { MatmulBlock } from "./_matmul_plan.ts";

const MARKER = /^ {2}\/\/ second product: none$/m;

/** `source` with the second product's bindings (`first`, `first` + 1), helpers and loop added. */
export function withSecondProduct(source: string, block: MatmulBlock, K2: number, first: number): string {
  if (K2 % 4 !== 0) throw new Error(`matmul: the second product needs K2 % 4 == 0, found K2 = ${K2}`);
  if (!MARKER.test(source)) throw new Error(`matmul kernel lacks the line "  // second product: none"`);
  const decls = `@group(0) @binding(${first}) var<storage, read> a2: array<vec4f>;
@group(0) @binding(${first + 1}) var<storage, read> b2: array<vec4f>;
const K2_4 = ${K2 / 4}u;
// Offsets (in vec4s) of rows (of A2) or columns (rows of B2) r .. r + 3, clamped like rowsAt.
fn rows2At(r: u32, last: u32) -> vec4u { return min(vec4u(r) + vec4u(0u, 1u, 2u, 3u), vec4u(last)) * K2_4; }
fn loadA2(rows: vec4u, k4: u32) -> mat4x4f {
  return mat4x4f(a2[rows.x + k4], a2[rows.y + k4], a2[rows.z + k4], a2[rows.w + k4]);
}
fn loadB2(cols: vec4u, k4: u32) -> mat4x4f {
  return transpose(mat4x4f(b2[cols.x + k4], b2[cols.y + k4], b2[cols.z + k4], b2[cols.w + k4]));
}
`;
  const lines: string[] = [];
  for (let i = 0; i < block.gm; i++) lines.push(`    let rb${i} = rows2At(m${i}, p.M - 1u);`);
  for (let j = 0; j < block.gn; j++) lines.push(`    let cc${j} = rows2At(n0 + ${4 * j}u, p.N - 1u);`);
  lines.push(`    for (var k4 = 0u; k4 < K2_4; k4++) {`);
  for (let i = 0; i < block.gm; i++) lines.push(`      let x${i} = loadA2(rb${i}, k4);`);
  for (let j = 0; j < block.gn; j++) lines.push(`      let y${j} = loadB2(cc${j}, k4);`);
  for (let i = 0; i < block.gm; i++) {
    for (let j = 0; j < block.gn; j++) lines.push(`      acc${i}${j} += y${j} * x${i};`);
  }
  lines.push(`    }`);
  const loop = `  {\n${lines.join("\n")}\n  }`;
  const at = source.indexOf("@compute");
  return source.slice(0, at) + decls + "\n" + source.slice(at).replace(MARKER, loop);
}

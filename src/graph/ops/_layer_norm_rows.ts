/**
 * Lane-a-row layer norm kernels written out for one row length (rows of up to UNROLLED_MAX_LEN floats): each
 * vec4 of x, g and gamma is loaded once and kept as a value, where the loop kernels of
 * kernels/layer_norm_vec.wgsl reload the row for every pass (a private array indexed in a loop would be
 * read lane by lane on CPU adapters). Same sums in the same order as the loop kernels, so the same values.
 */
import vecSource from "../../../kernels/layer_norm_vec.wgsl" with { type: "text" };

/** Rows up to this many floats (a multiple of 4) get the written-out kernels. */
export const UNROLLED_MAX_LEN = 64;

/** The loop kernel's header (params, bindings, WG, hsum), shared so both kernels bind alike. */
const HEADER = (() => {
  const at = vecSource.indexOf("// Row statistics");
  if (at < 0) throw new Error(`kernels/layer_norm_vec.wgsl lacks its "// Row statistics" comment`);
  return vecSource.slice(0, at);
})();

const cache = new Map<string, string>();

/** Whether rows of `len` floats get the written-out kernels. */
export function writtenOut(len: number): boolean {
  return len % 4 === 0 && len >= 4 && len <= UNROLLED_MAX_LEN;
}

/**
 * The source with `forward` and `dx` entries for rows of `len` floats, or with `addend` only `dx`, which then
 * adds binding 5 (a gradient of x's shape, summed with dx as it is stored).
 */
export function unrolledLayerNorm(len: number, addend = false): string {
  if (!writtenOut(len)) throw new Error(`layer norm: no written-out kernel for rows of ${len}`);
  const key = `${len}:${addend}`;
  let text = cache.get(key);
  if (text === undefined) {
    text = addend
      ? `${HEADER}@group(0) @binding(5) var<storage, read> fourth: array<vec4f>;\n${
        entry("dx", len / 4, true)
      }`
      : HEADER + entry("forward", len / 4) + entry("dx", len / 4);
    cache.set(key, text);
  }
  return text;
}

const range = (n: number) => Array.from({ length: n }, (_, j) => j);

function entry(name: "forward" | "dx", n4: number, addend = false): string {
  const J = range(n4);
  const lines = [
    `@compute @workgroup_size(WG)`,
    `fn ${name}(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, ` +
    `@builtin(local_invocation_index) lid: u32) {`,
    `  let row = (wid.y * nwg.x + wid.x) * WG + lid;`,
    `  if (row >= p.rows) { return; }`,
    `  let base = row * ${n4}u;`,
    ...J.map((j) => `  let v${j} = x[base + ${j}u];`),
    `  let x0 = v0.x;`,
    `  var s = vec4f(0.0);`,
    ...J.map((j) => `  s += v${j} - x0;`),
    `  let mean = hsum(s) / f32(p.len);`,
    `  var q = vec4f(0.0);`,
    ...J.map((j) => `  let d${j} = (v${j} - x0) - mean;\n  q += d${j} * d${j};`),
    `  let rstd = 1.0 / sqrt(hsum(q) / f32(p.len) + p.eps);`,
    ...J.map((j) => `  let h${j} = ((v${j} - x0) - mean) * rstd;`),
  ];
  if (name === "forward") {
    lines.push(...J.map((j) => `  out[base + ${j}u] = h${j} * gamma[${j}u] + third[${j}u];`));
  } else {
    // dx = rstd * (gx - mean(gx) - xhat * mean(gx * xhat)), gx = g * gamma, as in the loop kernel.
    lines.push(
      `  var a = vec4f(0.0);`,
      `  var b = vec4f(0.0);`,
      ...J.map((j) =>
        `  let gx${j} = third[base + ${j}u] * gamma[${j}u];\n  a += gx${j};\n  b += gx${j} * h${j};`
      ),
      `  let ma = hsum(a) / f32(p.len);`,
      `  let mb = hsum(b) / f32(p.len);`,
      ...J.map((j) =>
        addend
          ? `  out[base + ${j}u] = fourth[base + ${j}u] + rstd * (gx${j} - ma - h${j} * mb);`
          : `  out[base + ${j}u] = rstd * (gx${j} - ma - h${j} * mb);`
      ),
    );
  }
  lines.push(`}\n`);
  return lines.join("\n");
}

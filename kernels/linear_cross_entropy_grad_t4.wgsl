// The kept logits' gradient (kernels/_lce_grad4.wgsl) written transposed, [len, rows]: the backward product
// to the hidden states then reads it as a transposed A, along the rows, where the matmul's lanes fetch
// adjacent vec4s (a gradient [rows, len] read as a plain A puts the lanes' rows len floats apart). A 4x4 block
// a lane: four fetches, sixteen exps, four stores, the per-element operations of the vec4 kernel, so the same
// bits. Needs rows and len multiples of 4.
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG + lid;
  let rows4 = p.rows / 4u;
  let len4 = p.len / 4u;
  if (q >= rows4 * len4) { return; }
  // block (r4, c4): rows 4 r4.., columns 4 c4..; adjacent lanes take adjacent row groups, so adjacent stores
  let r4 = q % rows4;
  let c4 = q / rows4;
  // rows 4 r4 + r of the block, transposed: column c is row 4 c4 + c of the transposed gradient
  let t = transpose(mat4x4f(grad4(r4 * 4u, c4), grad4(r4 * 4u + 1u, c4), grad4(r4 * 4u + 2u, c4), grad4(r4 * 4u + 3u, c4)));
  for (var c = 0u; c < 4u; c++) { grad[(c4 * 4u + c) * rows4 + r4] = t[c]; }
}

// The kept logits' gradient four elements a lane (kernels/_lce_grad4.wgsl), for chunks whose length is a
// multiple of 4, so a vec4 never spans two rows: one fetch, four exps and one store a lane, where a scalar
// store costs a loop over the SIMD group's lanes on CPU adapters. The same operations per element, so the
// same bits as the scalar kernel.
const WG = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = (wid.y * nwg.x + wid.x) * WG + lid;
  let len4 = p.len / 4u;
  if (q >= p.rows * len4) { return; }
  grad[q] = grad4(q / len4, q % len4);
}

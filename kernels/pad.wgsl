// Along the middle axis of [outer, len, inner] views: `pad` writes all of out ([outer, len_out, inner]) with
// x ([outer, len_in, inner]) at rows start.., zeros elsewhere; `place` writes only x's rows (a concat part).
struct Params { n: u32, len_in: u32, len_out: u32, inner: u32, start: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Over out's elements (n = out size).
@compute @workgroup_size(256)
fn pad(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let c = i % p.inner;
  let l = (i / p.inner) % p.len_out;
  let o = i / (p.inner * p.len_out);
  var v = 0.0;
  if (l >= p.start && l < p.start + p.len_in) { v = x[(o * p.len_in + l - p.start) * p.inner + c]; }
  out[i] = v;
}

// Over x's elements (n = x size).
@compute @workgroup_size(256)
fn place(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let c = i % p.inner;
  let l = (i / p.inner) % p.len_in;
  let o = i / (p.inner * p.len_in);
  out[(o * p.len_out + l + p.start) * p.inner + c] = x[i];
}

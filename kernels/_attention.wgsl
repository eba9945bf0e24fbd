// Shared prefix of the fused attention kernels (kernels/attention.wgsl, kernels/attention_grad.wgsl): qkv
// [B, T, 3d] read in place (columns [0, d) = q, [d, 2d) = k, [2d, 3d) = v; head h at h*dh.. of each), one
// lane per (example, head, token). Lanes hold a head's vectors in registers and walk the T keys (or
// queries) alone: no workgroup memory, no barrier. Indices count V elements: vec4s when dh divides by 4,
// else floats; the alias and const lines are rewritten per variant by src/graph/ops/attention.ts.
struct Params { lanes: u32, T: u32, H: u32, scale: f32, causal: u32 }
@group(0) @binding(0) var<uniform> p: Params;

alias V = vec4f;
// V elements per head (dh / 4, or dh)
const DHV = 4u;
fn vdot(a: V, b: V) -> f32 { return dot(a, b); }

@group(0) @binding(1) var<storage, read> qkv: array<V>;

const WG = 64u;
const BIG = 3.402823e38;

// One lane's coordinates: example b, head h, token t, and bh = b * H + h.
struct Lane { b: u32, h: u32, t: u32, bh: u32 }

fn lane_of(wid: vec3u, nwg: vec3u, lid: u32) -> u32 { return (wid.y * nwg.x + wid.x) * WG + lid; }

fn coords(lane: u32) -> Lane {
  let bh = lane / p.T;
  return Lane(bh / p.H, bh % p.H, lane % p.T, bh);
}

// V elements in a row of width d = H dh.
fn dv() -> u32 { return p.H * DHV; }

// Start of head h's part (0 = q, 1 = k, 2 = v) of token t of example b in qkv.
fn at(b: u32, t: u32, part: u32, h: u32) -> u32 { return (b * p.T + t) * 3u * dv() + part * dv() + h * DHV; }

// Start of head h of token t of example b in a [B, T, d] tensor (the output, or its gradient).
fn at_out(b: u32, t: u32, h: u32) -> u32 { return (b * p.T + t) * dv() + h * DHV; }

// Keys query t sees: all, or 0..t when causal.
fn seen(t: u32) -> u32 { return select(p.T, t + 1u, p.causal != 0u); }

// First key query t of example b sees: 0, or with per-token positions (examples packed in one window, each
// attending to itself only) the start of t's example, t - position(t). The segmented variants rewrite it.
fn key_start(b: u32, t: u32) -> u32 { return 0u; }

// scale * q . k for the q in registers and key j.
fn score(q: array<V, DHV>, b: u32, j: u32, h: u32) -> f32 {
  let k = at(b, j, 1u, h);
  var s = 0.0;
  for (var c = 0u; c < DHV; c++) { s += vdot(q[c], qkv[k + c]); }
  return s * p.scale;
}

// Shared part of the softmax cross-entropy kernels (loss and gradient are appended): rows of logits [rows, len]
// with one class label each. Logits are z_j = s * x_j, except the label's z_y = s * margin_logit(x_y).
// kind 0: plain, 1: CosFace (x_y - m), 2: ArcFace (cos(acos(x_y) + m) while x_y > cos(pi - m), else
// x_y - m sin(pi - m); the acos is taken of x_y clamped to [-1 + 1e-7, 1 - 1e-7]).
struct Params { rows: u32, len: u32, kind: u32, s: f32, m: f32, cos_m: f32, sin_m: f32, th: f32, mm: f32, nan: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;

// The label's logit divided by s, and its derivative with respect to the cosine c.
fn margin_logit(c: f32) -> vec2f {
  if (p.kind == 1u) { return vec2f(c - p.m, 1.0); }
  if (p.kind == 2u) {
    if (c > p.th) {
      let cc = clamp(c, -1.0 + 1e-7, 1.0 - 1e-7);
      let sn = sqrt(1.0 - cc * cc);
      return vec2f(cc * p.cos_m - sn * p.sin_m, select(0.0, p.cos_m + cc * p.sin_m / sn, cc == c));
    }
    return vec2f(c - p.mm, 1.0);
  }
  return vec2f(c, 1.0);
}

// The label of `row` as an index, or len when it is not an integer in [0, len).
fn label(row: u32) -> u32 {
  let l = labels[row];
  if (l >= 0.0 && l < f32(p.len) && fract(l) == 0.0) { return u32(l); }
  return p.len;
}

// Margin-adjusted logit j of the row at `base` whose label is y with adjusted logit zy.
fn z(base: u32, j: u32, y: u32, zy: f32) -> f32 { return select(p.s * logits[base + j], zy, j == y); }

// (max_j z_j, sum_j exp(z_j - max)) over the row, shared by every thread of the workgroup.
fn softmax_stats(base: u32, y: u32, zy: f32, lid: u32) -> vec2f {
  var m = -BIG;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { m = max(m, z(base, j, y, zy)); }
  m = row_max(m, lid);
  var s = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { s += exp(z(base, j, y, zy) - m); }
  return vec2f(m, row_sum(s, lid));
}

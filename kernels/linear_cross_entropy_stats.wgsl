// Online log-sum-exp over the chunks: folds this chunk's max and sum of exp into the row's running (max,
// sum) and picks the label's logit when it lies in the chunk. The last chunk writes (loss, lse, counted).
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
// [rows, 3]: running max, running sum of exp(z - max), the label's logit
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
// [rows, 3]: loss (0 when ignored, NaN for a bad label), lse, 1 when the row counts (0 when ignored)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg, lid);
  if (row >= p.rows) { return; }
  let base = row * p.len;
  var m = -BIG;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { m = max(m, logits[base + j]); }
  m = row_max(m, lid);
  var s = 0.0;
  for (var j = row_lane(lid); j < p.len; j += ROW_LANES) { s += exp(logits[base + j] - m); }
  s = row_sum(s, lid);
  if (row_lane(lid) != 0u) { return; }
  var big = m;
  var sum = s;
  var zy = 0.0;
  if (p.first == 0u) {
    let m0 = stats[row * 3u];
    big = max(m0, m);
    sum = stats[row * 3u + 1u] * exp(m0 - big) + s * exp(m - big);
    zy = stats[row * 3u + 2u];
  }
  let y = label_of(labels[row]);
  if (y >= p.c0 && y < p.c0 + p.len) { zy = logits[base + y - p.c0]; }
  stats[row * 3u] = big;
  stats[row * 3u + 1u] = sum;
  stats[row * 3u + 2u] = zy;
  if (p.last == 1u) {
    let lse = big + log(sum);
    var loss = lse - zy;
    if (y == IGNORED) { loss = 0.0; }
    if (y == INVALID) { loss = bitcast<f32>(p.nan); }
    out[row * 3u] = loss;
    out[row * 3u + 1u] = lse;
    out[row * 3u + 2u] = select(1.0, 0.0, y == IGNORED);
  }
}

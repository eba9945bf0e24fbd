// The overflow-free sum of squares shared by the gradient-norm kernels: a set of values is kept as a pair
// (scale, ssq) with L2 norm = scale * sqrt(ssq) and scale the largest |value|, so squares never overflow
// (g * g does above 1.8e19). `reduce_pairs` combines the 256 pairs of a workgroup in a fixed order.
var<workgroup> pairs: array<vec2f, 256>;

// (scale, ssq) of the union of two sets of values.
fn combine(a: vec2f, b: vec2f) -> vec2f {
  let s = max(a.x, b.x);
  if (s == 0.0) { return vec2f(0.0, 0.0); }
  let ra = a.x / s;
  let rb = b.x / s;
  return vec2f(s, a.y * ra * ra + b.y * rb * rb);
}

// Every invocation of the workgroup calls it (barriers); the result is valid in invocation 0.
fn reduce_pairs(lid: u32, acc: vec2f) -> vec2f {
  pairs[lid] = acc;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w = w / 2u) {
    if (lid < w) { pairs[lid] = combine(pairs[lid], pairs[lid + w]); }
    workgroupBarrier();
  }
  return pairs[0];
}

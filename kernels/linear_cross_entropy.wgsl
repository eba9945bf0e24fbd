// Shared part of the fused linear cross-entropy kernels (one body is appended): rows of one vocabulary chunk
// of logits [rows, len], vocabulary ids c0 .. c0 + len - 1 of `vocab`, with one label per row. A label of -1
// is ignored (no loss, no gradient); any other label that is not an id in [0, vocab) gives NaN.
struct Params { rows: u32, len: u32, c0: u32, vocab: u32, first: u32, last: u32, nan: u32 }
@group(0) @binding(0) var<uniform> p: Params;

const IGNORED = 0xffffffffu;
const INVALID = 0xfffffffeu;

// The label of `row` as an id, IGNORED for -1, INVALID for anything else outside [0, vocab).
fn label_of(l: f32) -> u32 {
  if (l == -1.0) { return IGNORED; }
  if (l >= 0.0 && l < f32(p.vocab) && fract(l) == 0.0) { return u32(l); }
  return INVALID;
}

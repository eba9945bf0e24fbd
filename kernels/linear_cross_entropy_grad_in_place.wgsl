// Header of linear_cross_entropy_grad.wgsl: the chunk's logits are overwritten by their gradient.
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
fn put(i: u32, v: f32) { logits[i] = v; }

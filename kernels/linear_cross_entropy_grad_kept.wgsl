// Header of linear_cross_entropy_grad.wgsl: the chunk's logits are kept (read only, so a texture may hold
// them) and the gradient goes to its own buffer.
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(5) var<storage, read_write> grad: array<f32>;
fn put(i: u32, v: f32) { grad[i] = v; }

/** Host-side tensors and adapter weights that the exporter and the CPU reference read. */

/** A dense row-major float32 tensor on the host. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** Model parameters by name: `patch_embed.weight` [out, in], `blocks.0.ln1.weight`, `pos_embed`, ... */
export type Weights = Record<string, HostTensor>;

/**
 * LoRA on one linear: `y = x W^T + b + scale * g * (x A1^T) B1^T + scale * (1 - g) * (x A2^T) B2^T`.
 * A: [r, in], B: [out, r]. Without `A2`/`B2` it is plain LoRA (g = 1, one branch); with them it is gated
 * and g is given per example.
 */
export interface LoraModule {
  scale: number;
  A1: HostTensor;
  B1: HostTensor;
  A2?: HostTensor;
  B2?: HostTensor;
}

/** LoRA modules by linear module path (`blocks.0.attn.qkv`, `feature`, ...). */
export type LoraSet = Record<string, LoraModule>;

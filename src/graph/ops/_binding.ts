/**
 * Bytes of a tensor one kernel call binds at most when an op reads or writes it in parts: WebGPU's default
 * maxStorageBufferBindingSize, which every adapter offers. Larger tables (GPT-2's 50,257 x 768 embedding is
 * 147 MiB in f32, Qwen2.5's 151,936 x 896 is 519 MiB) are bound in pieces of rows, so a plan that fits one
 * device fits all.
 */
export const PIECE_BYTES = 128 * 2 ** 20;

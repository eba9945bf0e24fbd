/**
 * Bytes of a tensor one kernel call binds at most when an op reads or writes it in parts: WebGPU's default
 * maxStorageBufferBindingSize, which every adapter offers. Larger tables (GPT-2's 50,257 x 768 embedding is
 * 147 MiB in f32, Qwen2.5's 151,936 x 896 is 519 MiB) are bound in pieces of rows, so a plan that fits one
 * device fits all.
 */
export const PIECE_BYTES = 128 * 2 ** 20;

/** A run of rows of a table bound in parts: rows first.. first + rows. */
export interface RowPiece {
  first: number;
  rows: number;
}

/**
 * Rows of a [rows, d] table of `bytes`-byte elements per piece: within `pieceBytes`, a multiple of 256 / bytes
 * rows so every piece's offset aligns to 256 bytes (64 rows of f32, 128 of f16 or bf16; also 256-byte steps
 * of an f32 output written a column range per piece).
 */
export function pieceRows(rows: number, d: number, bytes: 2 | 4 = 4, pieceBytes = PIECE_BYTES): number {
  const align = 256 / bytes;
  const fit = Math.floor(pieceBytes / (bytes * d) / align) * align;
  return Math.min(rows, Math.max(align, fit));
}

/** The pieces of a table of `rows` rows of `d` elements (see pieceRows). */
export function rowPieces(rows: number, d: number, bytes: 2 | 4, pieceBytes = PIECE_BYTES): RowPiece[] {
  const step = pieceRows(rows, d, bytes, pieceBytes);
  const out: RowPiece[] = [];
  for (let first = 0; first < rows; first += step) out.push({ first, rows: Math.min(step, rows - first) });
  return out;
}

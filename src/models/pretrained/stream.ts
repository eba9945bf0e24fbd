/**
 * A checkpoint's weights read a tensor, or a piece of one, at a time at their files' offsets: what loads a
 * pretrained model onto the GPU without the whole model ever being held in memory.
 */
import { files } from "../../host/files.ts";
import { widen } from "../../adapters/safetensors.ts";
import type { TensorPlace } from "./checkpoint.ts";
import { PretrainedError } from "./errors.ts";

/** How a frozen weight is kept on the GPU: float32, or 16 bits as f16 or bf16. */
export type Keep = false | "f16" | "bf16";

/**
 * A piece of a tensor in mixtune's layout, from element `offset` on: float32 values, or, when the checkpoint
 * stores the weight in the 16-bit type asked for, its bits as stored (padded to an even count).
 */
export interface Piece {
  offset: number;
  f32?: Float32Array;
  bits?: Uint16Array<ArrayBuffer>;
}

/** Elements read at once when a tensor is read in pieces (16 MiB of float32). */
export const PIECE = 1 << 22;

/** A tensor's float32 values in mixtune's layout (GPT-2's Conv1D weights transposed to [out, in]). */
export function readTensor(place: TensorPlace): Float32Array {
  const data = widen(place.dtype, readBytes(place, place.start, place.bytes));
  return place.conv1d ? transpose2d(data, place.shape[0], place.shape[1]) : data;
}

/**
 * A tensor in pieces of at most `most` elements (a Conv1D weight, transposed, in one piece). 16-bit bits as
 * stored come back only for a weight kept in its stored type; every other piece is float32.
 */
export function* tensorPieces(place: TensorPlace, keep: Keep, most = PIECE): Generator<Piece> {
  if (place.conv1d) {
    yield { offset: 0, f32: readTensor(place) };
    return;
  }
  const width = place.dtype === "F32" ? 4 : 2;
  const asStored = (keep === "f16" && place.dtype === "F16") || (keep === "bf16" && place.dtype === "BF16");
  const count = place.bytes / width;
  // an even count keeps every 16-bit piece a whole number of 32-bit words
  const step = Math.max(2, most - (most % 2));
  for (let offset = 0; offset < count; offset += step) {
    const n = Math.min(step, count - offset);
    const bytes = readBytes(place, place.start + offset * width, n * width);
    if (asStored) {
      let bits = new Uint16Array(bytes.buffer);
      if (n % 2) (bits = new Uint16Array(n + 1)).set(new Uint16Array(bytes.buffer));
      yield { offset, bits };
    } else yield { offset, f32: widen(place.dtype, bytes) };
  }
}

/** `length` bytes of `place`'s file from `position`, read at that offset. */
function readBytes(place: TensorPlace, position: number, length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  let f;
  try {
    f = files().openSync(place.file);
  } catch (e) {
    throw new PretrainedError(
      place.file,
      files().notFound(e) ? "file not found" : `cannot read: ${(e as Error).message}`,
    );
  }
  try {
    let got = 0;
    while (got < length) {
      const k = f.readAt(out.subarray(got), position + got);
      if (k === 0) {
        throw new PretrainedError(
          place.file,
          `ends before tensor "${place.stored}" does: the file changed after its header was read`,
        );
      }
      got += k;
    }
  } finally {
    f.close();
  }
  return out;
}

/** [rows, cols] row-major to [cols, rows]. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

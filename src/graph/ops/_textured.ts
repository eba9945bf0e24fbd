/** The texture-reading variant of a kernel call (src/gpu/operand_textures.ts), cached so pipelines are shared. */
import { type OperandFormat, texturedSource } from "../../gpu/operand_textures.ts";
import type { KernelCall } from "../op.ts";

const cache = new Map<string, { source: string; formats: OperandFormat[] }>();

/** `call` offering to read the arrays `names`, bound at `bind` (indices into call.bind), from textures. */
export function withTextures(
  call: KernelCall,
  names: readonly string[],
  bind: readonly number[],
): KernelCall {
  const key = `${names.join()}\n${call.source}`;
  let out = cache.get(key);
  if (out === undefined) {
    out = texturedSource(call.source, names);
    cache.set(key, out);
  }
  return { ...call, textured: { ...out, bind } };
}

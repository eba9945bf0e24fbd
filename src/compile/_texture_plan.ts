/** Bytes of the scratch textures a program on a texture-reading device copies matmul operands into. */
import { cpuVariant, type Half } from "../graph/op.ts";
import type { Node } from "../graph/node.ts";
import { textureBytes, textureRows } from "../gpu/operand_textures.ts";
import type { BufferPlan } from "./plan.ts";

/** One texture per binding position and format, as tall as the largest operand bound there (as Program.compile does). */
export function operandTextureBytes(plan: BufferPlan, half: ReadonlyMap<Node, Half>): number {
  const rows = new Map<string, number>();
  plan.ops.forEach((n, i) => {
    const low = plan.lowerings[i];
    for (const call of (low?.calls ?? []).map(cpuVariant)) {
      for (const [j, k] of (call.textured?.bind ?? []).entries()) {
        const at = `${k} ${call.textured!.formats[j]}`;
        const ref = call.bind[k];
        let bytes = 0;
        if ("size" in ref && ref.size !== undefined) bytes = ref.size;
        else if ("in" in ref) bytes = n.inputs[ref.in].size * (half.get(n.inputs[ref.in]) ? 2 : 4);
        else if ("out" in ref) bytes = n.size * 4;
        else if ("scratch" in ref) bytes = low!.scratch![ref.scratch] * 4;
        else bytes = ref.buffer.size - (ref.offset ?? 0);
        rows.set(at, Math.max(rows.get(at) ?? 0, textureRows(Math.ceil(bytes / 16) * 16)));
      }
    }
  });
  return [...rows.values()].reduce((a, r) => a + textureBytes(r), 0);
}

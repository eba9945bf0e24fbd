/** Linear layers with LoRA where placed, shared by every model graph. */
import { type Node, param } from "../graph/node.ts";
import { linear as linearOp } from "../graph/ops/matmul.ts";
import { loraLinear } from "../graph/ops/lora.ts";
import { dropout, dropoutSegments } from "../graph/ops/dropout.ts";
import { packedLoraLinear } from "../graph/ops/lora_packed.ts";
import { packedBranches } from "./_packed.ts";

/** Where one LoRA module goes (resolved from adapter patterns). */
export interface LoraPlacement {
  path: string;
  rank: number;
  /** The multiplier s in front of B A. */
  scale: number;
  /** Two branches blended by the per-example gate g (hq weighted g, lq weighted 1 - g). */
  gated: boolean;
  /** Dropout on the branch input while training (PEFT's lora_dropout); default 0. */
  dropout?: number;
}

/** LoRA parameter names of a module, in PEFT's naming (`<path>.lora_A.weight`, gated: `.lora_A.hq.weight`). */
export function loraNames(path: string, branch?: "hq" | "lq"): { A: string; B: string } {
  const b = branch ? `.${branch}` : "";
  return { A: `${path}.lora_A${b}.weight`, B: `${path}.lora_B${b}.weight` };
}

/** `linear(path, x, residual?)`: `x W^T + b (+ residual)` with the LoRA branches placed on `path`. */
export type LinearFn = (path: string, x: Node, residual?: Node) => Node;

/**
 * A `linear` over `params` (`<path>.weight` [out, in], optional `<path>.bias`) that adds LoRA parameters to
 * `params` as modules use them. `residual` is added inside the layer's last matmul (same sums, same order
 * as add()). With `pack` (K variants in one step) each variant's rows meet only its own adapter.
 */
export function linearWithLora(
  params: Map<string, Node>,
  placements: readonly LoraPlacement[],
  gate?: Node,
  dropoutSeed?: Node,
  pack?: { ranks: Map<string, number[]>; scales: Map<string, number[]> },
): LinearFn {
  const lora = new Map(placements.map((l) => [l.path, l]));
  return (path, x, residual) => {
    const W = params.get(`${path}.weight`);
    if (!W) throw new Error(`no weight for linear layer ${path}`);
    const b = params.get(`${path}.bias`);
    const l = lora.get(path);
    if (!l) return linearOp(x, W, b, residual);
    const [outDim, inDim] = W.shape;
    if (pack) {
      const branches = packedBranches(path, l, pack.ranks.get(path)!, pack.scales.get(path)!, outDim, inDim);
      for (const br of branches) params.set(br.A.name, br.A).set(br.B.name, br.B);
      const p = dropoutSeed ? l.dropout ?? 0 : 0;
      const withInputs = branches.map((br) => ({
        ...br,
        gate: br.gated ? gate : undefined,
        input: p > 0 ? dropoutSegments(x, dropoutSeed!, p, saltOf(br.A.name)) : undefined,
      }));
      return packedLoraLinear(x, W, b, withInputs, residual);
    }
    const branch = (which?: "hq" | "lq") => {
      const names = loraNames(path, which);
      const A = param(names.A, [l.rank, inDim], true);
      const Bm = param(names.B, [outDim, l.rank], true);
      params.set(names.A, A);
      params.set(names.B, Bm);
      const p = dropoutSeed ? l.dropout ?? 0 : 0;
      const dropped = p > 0 ? dropout(x, dropoutSeed!, p, saltOf(names.A)) : undefined;
      return {
        A,
        B: Bm,
        scale: l.scale,
        gate: which ? gate : undefined,
        gateComplement: which === "lq",
        input: dropped,
      };
    };
    return loraLinear(x, W, b, l.gated ? [branch("hq"), branch("lq")] : [branch()], residual);
  };
}

/** A stable 32-bit salt per parameter name, so each branch draws its own dropout mask. */
function saltOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

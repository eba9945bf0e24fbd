/** Linear layers with LoRA where placed, shared by every model graph. */
import { type Node, param } from "../graph/node.ts";
import { linear as linearOp } from "../graph/ops/matmul.ts";
import { type LoraBranch, loraLinear } from "../graph/ops/lora.ts";
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
      const packed = packedBranches(path, l, pack.ranks.get(path)!, pack.scales.get(path)!, outDim, inDim);
      for (const br of packed) params.set(br.A.name, br.A).set(br.B.name, br.B);
      const p = dropoutSeed ? l.dropout ?? 0 : 0;
      const withInputs = packed.map((br) => ({
        ...br,
        gate: br.gated ? gate : undefined,
        input: p > 0 ? dropoutSegments(x, dropoutSeed!, p, saltOf(br.A.name)) : undefined,
      }));
      return packedLoraLinear(x, W, b, withInputs, residual);
    }
    return loraLinear(x, W, b, branches(params, l, x, W, gate, dropoutSeed), residual);
  };
}

/** The parts of a linear layer: weight [out, in], optional bias [out], and its LoRA branches. */
export interface LinearParts {
  W: Node;
  b?: Node;
  branches: LoraBranch[];
}

/**
 * Like `linearWithLora`, but returns the layer's parts for a consumer that fuses the product into what
 * follows (the LM loss over the output projection), adding the LoRA parameters to `params` as it goes.
 */
export function linearParts(
  params: Map<string, Node>,
  placements: readonly LoraPlacement[],
  gate?: Node,
  dropoutSeed?: Node,
): (path: string, x: Node) => LinearParts {
  const lora = new Map(placements.map((l) => [l.path, l]));
  return (path, x) => {
    const W = params.get(`${path}.weight`);
    if (!W) throw new Error(`no weight for linear layer ${path}`);
    const l = lora.get(path);
    return {
      W,
      b: params.get(`${path}.bias`),
      branches: l ? branches(params, l, x, W, gate, dropoutSeed) : [],
    };
  };
}

/** The LoRA branches of placement `l` on weight W reading x (two when gated), their parameters added to `params`. */
function branches(
  params: Map<string, Node>,
  l: LoraPlacement,
  x: Node,
  W: Node,
  gate?: Node,
  dropoutSeed?: Node,
): LoraBranch[] {
  const [outDim, inDim] = W.shape;
  const branch = (which?: "hq" | "lq"): LoraBranch => {
    const names = loraNames(l.path, which);
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
  return l.gated ? [branch("hq"), branch("lq")] : [branch()];
}

/** A stable 32-bit salt per parameter name, so each branch draws its own dropout mask. */
function saltOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

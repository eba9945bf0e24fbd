/** The pieces of a model graph that change when K variants are packed into one step. */
import { type Node, param } from "../graph/node.ts";
import { mul } from "../graph/ops/elementwise.ts";
import { matmul } from "../graph/ops/matmul.ts";
import { sum } from "../graph/ops/reduce.ts";
import { reshape } from "../graph/ops/reshape.ts";
import { scale } from "../graph/ops/unary.ts";
import { loraNames, type LoraPlacement } from "./_linear.ts";

/** Base parameters a packed graph may train per variant (stacked [K, ...]); the rest must be frozen. */
const PER_VARIANT_BASE = new Set(["head.weight"]);

/** The variants' placements merged: one per path at the largest rank, with every variant's rank and scale. */
export function packedLora(variants: readonly (readonly LoraPlacement[])[]): {
  placements: LoraPlacement[];
  ranks: Map<string, number[]>;
  scales: Map<string, number[]>;
} {
  if (variants.length === 0) throw new Error("packing needs at least one variant");
  const first = variants[0];
  const ranks = new Map<string, number[]>();
  const scales = new Map<string, number[]>();
  variants.forEach((v, k) => {
    const same = v.length === first.length &&
      v.every((l, i) => l.path === first[i].path && l.gated === first[i].gated);
    if (!same) {
      throw new Error(
        `packed variant ${k} places LoRA on ${describe(v)}, variant 0 on ${describe(first)}: they must match`,
      );
    }
    v.forEach((l, i) => {
      if ((l.dropout ?? 0) !== (first[i].dropout ?? 0)) {
        throw new Error(
          `packed variant ${k} has LoRA dropout ${l.dropout ?? 0} on ${l.path}, variant 0 ${
            first[i].dropout ?? 0
          }: ` +
            `a pack shares the dropout probability`,
        );
      }
    });
    for (const l of v) {
      ranks.set(l.path, [...(ranks.get(l.path) ?? []), l.rank]);
      scales.set(l.path, [...(scales.get(l.path) ?? []), l.scale]);
    }
  });
  const placements = first.map((l) => ({ ...l, rank: Math.max(...ranks.get(l.path)!) }));
  return { placements, ranks, scales };
}

function describe(v: readonly LoraPlacement[]): string {
  return v.length ? v.map((l) => `${l.path}${l.gated ? " (gated)" : ""}`).join(", ") : "no module";
}

/** The stacked shape of a base parameter trained per variant. */
export function stackedBase(name: string, shape: readonly number[], K: number): number[] {
  if (!PER_VARIANT_BASE.has(name)) {
    throw new Error(
      `packed variants share a frozen backbone: ${name} is trainable (only ${
        [...PER_VARIANT_BASE].join(", ")
      } ` +
        `may be trained per variant)`,
    );
  }
  return [K, ...shape];
}

/** The stacked A [K, r, in] and B [K, out, r] of a packed module (one pair, or hq and lq when gated). */
export function packedBranches(
  path: string,
  l: LoraPlacement,
  ranks: readonly number[],
  scales: readonly number[],
  outDim: number,
  inDim: number,
): { A: Node; B: Node; scales: readonly number[]; gateComplement: boolean; gated: boolean }[] {
  const K = ranks.length;
  const branch = (which?: "hq" | "lq") => {
    const names = loraNames(path, which);
    return {
      A: param(names.A, [K, l.rank, inDim], true),
      B: param(names.B, [K, outDim, l.rank], true),
      scales,
      gateComplement: which === "lq",
      gated: which !== undefined,
    };
  };
  return l.gated ? [branch("hq"), branch("lq")] : [branch()];
}

/** Cosine logits of each variant's rows against its own head: e [K * B, e] and head [K, C, e] -> [K * B, C]. */
export function packedCosine(e: Node, head: Node): Node {
  const [K, C, dim] = head.shape;
  const B = e.shape[0] / K;
  return reshape(matmul(reshape(e, [K, B, dim]), head, { transB: true }), [K * B, C]);
}

/** Per-variant weighted mean loss [K] and domain sums [K, D] from the per-example losses of all rows. */
export function packedLosses(
  perExample: Node,
  weights: Node,
  domains: Node,
  K: number,
): { loss: Node; domainLoss: Node; packed: number } {
  const B = perExample.shape[0] / K;
  const D = domains.shape[1];
  const loss = scale(sum(reshape(mul(perExample, weights), [K, B]), 1), 1 / B);
  const per = matmul(reshape(domains, [K, B, D]), reshape(perExample, [K, B, 1]), { transA: true });
  return { loss, domainLoss: reshape(per, [K, D]), packed: K };
}

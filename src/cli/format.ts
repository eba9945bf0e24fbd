/** Plain-text tables and the human-readable plan. */
import type { PipelinePlan, StagePlan } from "../compile/pipeline_plan.ts";
import type { StepMemory } from "../compile/train_step.ts";
import { limitsLine } from "../compile/limits.ts";

/** A text table with aligned columns. */
export function table(title: string, columns: string[], rows: unknown[][]): string {
  const cells = [columns, ...rows.map((r) => r.map(cell))];
  const widths = columns.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((v, c) => v.padEnd(widths[c])).join("  ").trimEnd();
  return [title, line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)]
    .join("\n");
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toPrecision(4);
  return String(v);
}

/** Bytes as KiB / MiB. */
export function bytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** What gradient accumulation saves: the step's activations with and without it. */
function accumulationLine(a: NonNullable<StagePlan["accumulation"]>, m: StepMemory): string {
  const examples = a.microBatch === 1 ? "1 example" : `${a.microBatch} examples`;
  const head = `gradient accumulation: ${a.microBatches} micro-batches of ${examples} a step`;
  const u = a.unaccumulated;
  if (!u) return `${head}; the whole batch at once could not be planned (a kernel past its dispatch limits)`;
  const over = a.overLimit ? `; the whole batch ${a.overLimit}` : "";
  return `${head}: activations ${bytes(m.activations)}, against ${bytes(u.activations)} for the whole ` +
    `batch at once (${bytes(m.total)} against ${bytes(u.total)} in all${over})`;
}

/** The plan as a researcher reads it. */
export function formatPlan(plan: PipelinePlan): string {
  const out: string[] = [
    `pipeline ${plan.name}  (spec ${plan.hash.slice(0, 12)}, mixtune ${plan.version})`,
    "",
  ];
  const c = plan.checkpoint;
  if (c) {
    const stored = Object.entries(c.stored).map(([d, n]) => `${n.toLocaleString("en-US")} ${d}`).join(", ");
    out.push(
      `model: ${c.modelType} from ${c.dir}: ${
        c.weights.toLocaleString("en-US")
      } weights (${stored} on disk), ` +
        "loaded as float32",
      ...(c.unused ?? []).map((u) => `not used: ${u}`),
      ...(c.images ? [`images: ${c.images}`] : []),
      "",
    );
  }
  out.push(`limits: ${limitsLine(plan.limits)}`, "");
  out.push(
    `stages, in run order: ${
      plan.stages.map((s) => s.name + (s.dependsOn.length ? ` <- ${s.dependsOn}` : "")).join(", ")
    }`,
  );
  for (const s of plan.stages) {
    out.push("", `== ${s.name} (${s.kind}, ${s.hash})`);
    if (s.forward) {
      const m = s.forward.memory;
      out.push(
        `batch ${s.forward.batch}${
          s.forward.most === undefined ? "" : upTo(s.forward.batch, s.forward.most)
        }; ` +
          `GPU memory planned: ${bytes(m.total)} = weights ${bytes(m.weights)}${
            m.weights16 ? ` (${bytes(m.weights16)} of it 16-bit)` : ""
          } + activations ${bytes(m.activations)}` +
          (m.textures ? ` + operand textures ${bytes(m.textures)}` : ""),
      );
    }
    if (s.kind !== "train") continue;
    const p = s.params!;
    out.push(
      `parameters: ${p.total.toLocaleString("en-US")} total, ${
        p.trainable.toLocaleString("en-US")
      } trainable ` +
        `(${(p.share * 100).toFixed(2)}%)`,
    );
    for (const a of s.adapters ?? []) {
      out.push(
        `adapter ${a.pattern}: rank ${a.rank}, scale ${a.scale}${a.gated ? ", gated (two branches)" : ""}, ` +
          `${a.params.toLocaleString("en-US")} params on ${a.modules.length} modules: ${some(a.modules)}`,
      );
    }
    if (s.qualityScale) {
      out.push(`quality scale (fixed for training and evaluation): ${JSON.stringify(s.qualityScale)}`);
    }
    const m = s.memory!;
    out.push(
      `GPU memory planned: ${bytes(m.total)} = frozen ${bytes(m.frozen)}${
        m.frozenF16 ? ` (${bytes(m.frozenF16)} of it 16-bit weights)` : ""
      } + trainable state ${bytes(m.trainableState)} ` +
        `+ activations ${bytes(m.activations)}` +
        (m.textures ? ` + operand textures ${bytes(m.textures)}` : ""),
    );
    if (s.accumulation) out.push(accumulationLine(s.accumulation, s.memory!));
    if (s.recomputation) {
      const kept = s.recomputation.kept;
      out.push(
        `activation recomputation: activations ${bytes(m.activations)}, against ${
          bytes(kept.activations)
        } with every activation kept (${bytes(m.total)} against ${bytes(kept.total)} in all); ` +
          `${s.kernels!.length} dispatches against ${s.recomputation.keptDispatches}`,
      );
    }
    const kinds = new Map<string, number>();
    for (const k of s.kernels ?? []) kinds.set(k, (kinds.get(k) ?? 0) + 1);
    out.push(`step: ${s.kernels!.length} dispatches: ${[...kinds].map(([k, n]) => `${k} x${n}`).join(", ")}`);
    const sm = s.sampling!;
    const names = sm.domains.map((d) => d.name);
    out.push(table(
      "data mix (probability per domain at each schedule point; expected epochs over the stage)",
      ["domain", "examples", ...sm.schedule.map((p) => `p@${p.step} (T=${p.temperature ?? "-"})`), "epochs"],
      names.map((
        d,
        i,
      ) => [
        d,
        sm.domains[i].size,
        ...sm.schedule.map((p) => p.probabilities[d]),
        sm.domains[i].expectedEpochs,
      ]),
    ));
    const supervised = sm.domains.filter((d) => d.packing !== undefined);
    if (supervised.length > 0) {
      out.push(table(
        "supervised examples (training split; the loss counts response tokens only; no example crosses a " +
          "window; isolate: positions restart and attention stays within each example)",
        [
          "domain",
          "packing",
          "examples",
          "trained tokens",
          "tokens",
          "packing efficiency",
          "truncated",
          "dropped",
        ],
        supervised.map((d) => {
          const p = d.packing!;
          return [
            d.name,
            d.packingMode ?? "pack",
            p.examples,
            p.trainedTokens,
            p.tokens,
            p.efficiency,
            p.truncated,
            p.dropped,
          ];
        }),
      ));
    }
  }
  return out.join("\n");
}

/** A long list as its first three and last two items: a real model's 60 modules stay one readable line. */
function some(items: readonly string[]): string {
  return items.length <= 6 ? items.join(", ") : [...items.slice(0, 3), "...", ...items.slice(-2)].join(", ");
}

/** How an evaluate stage's batch was chosen: the limits, 128, or the rows its data has. */
function upTo(batch: number, most: number): string {
  if (most >= 128) return " (the most, up to 128, that fits the limits)";
  return batch === most
    ? ` (every validation example of its largest domain; it fits the limits)`
    : ` (the most that fits the limits, up to its largest domain's ${most} validation examples)`;
}

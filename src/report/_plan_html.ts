/** The plan's parts of a report: an overview over stages and one stage's placement, sampling and kernels. */
import { type Cell, escapeHtml, formatBytes, formatNumber, table } from "./_html.ts";
import type { PlanStage, RunPlan } from "./types.ts";

function percent(part: number, whole: number): string {
  return whole === 0 ? "—" : `${(100 * part / whole).toFixed(part / whole < 0.01 ? 3 : 2)}%`;
}

function kernelName(kernel: unknown): string {
  if (typeof kernel === "string") return kernel;
  if (
    typeof kernel === "object" && kernel !== null && typeof (kernel as { name?: unknown }).name === "string"
  ) {
    return (kernel as { name: string }).name;
  }
  return JSON.stringify(kernel);
}

/** One row per planned stage: parameter counts, memory, adapters and kernel counts. */
export function planOverview(plan: RunPlan): string {
  const rows: Cell[][] = plan.stages.map((s) => [
    s.name,
    s.kind,
    s.params?.total,
    s.params?.trainable,
    s.params === undefined ? undefined : percent(s.params.trainable, s.params.total),
    s.memoryBytes === undefined ? undefined : formatBytes(s.memoryBytes),
    s.adapters?.length,
    s.kernels?.length,
  ]);
  const columns = ["stage", "kind", "params", "trainable", "trainable %", "memory", "adapters", "kernels"];
  return table(columns, rows, `Plan ${plan.name} (${plan.hash})`);
}

/** A planned stage's details: adapter placement with matched modules, sampling domains, kernel list. */
export function planStageDetails(stage: PlanStage): string {
  const parts: string[] = [];
  const facts: string[] = [];
  if (stage.params !== undefined) {
    const { total, trainable } = stage.params;
    facts.push(
      `${formatNumber(trainable)} of ${formatNumber(total)} parameters trainable (${
        percent(trainable, total)
      })`,
    );
  }
  if (stage.memoryBytes !== undefined) facts.push(`planned memory ${formatBytes(stage.memoryBytes)}`);
  if (facts.length > 0) parts.push(`<p>${escapeHtml(facts.join("; "))}</p>`);
  if (stage.adapters !== undefined && stage.adapters.length > 0) {
    const rows: Cell[][] = stage.adapters.map((a) => [
      { html: `<code>${escapeHtml(a.pattern)}</code>` },
      a.rank,
      a.modules.length,
      { html: a.modules.map((m) => `<code>${escapeHtml(m)}</code>`).join(" ") },
    ]);
    parts.push(table(["pattern", "rank", "modules", "matched modules"], rows, "Adapters"));
  }
  const sampling = stage.sampling;
  if (sampling !== undefined && sampling.domains.length > 0) {
    const total = sampling.domains.reduce((a, d) => a + d.size, 0);
    const first = sampling.schedule[0]?.probabilities ?? {};
    const rows: Cell[][] = sampling.domains.map((
      d,
    ) => [d.name, d.size, percent(d.size, total), first[d.name]]);
    parts.push(table(["domain", "size", "share of data", "first planned p"], rows, "Sampling domains"));
  }
  if (stage.kernels !== undefined && stage.kernels.length > 0) {
    const items = stage.kernels.map((k) => `<code>${escapeHtml(kernelName(k))}</code>`).join(" ");
    parts.push(`<details><summary>${stage.kernels.length} kernels</summary><p>${items}</p></details>`);
  }
  return parts.join("\n");
}

/**
 * report.html of what the page ran: the CLI's report (src/report/render_report.ts), fed the run.json,
 * spec.json, metrics.jsonl and summary.json a run folder would hold, built in memory and checked by the
 * report's own parsers. Loaded as its own chunk (vega is large), when the reader asks for a report.
 */
import { parseMetrics } from "../../report/_parse_metrics.ts";
import { parseRunJson, parseSeed, parseSummary } from "../../report/_parse_run.ts";
import { renderReport } from "../../report/render_report.ts";
import type { RunData } from "../../report/types.ts";
import type { PipelinePlan } from "../../compile/pipeline_plan.ts";
import { stageOrder } from "../../spec/hash.ts";
import type { PipelineSpec } from "../../spec/types.ts";
import type { MetricLine } from "./stage.ts";

/** One finished stage of the page's run. */
export interface ReportStage {
  lines: MetricLine[];
  summary: Record<string, unknown>;
  /** Whether it came from this browser's saved stages (the report's "cached"). */
  cached: boolean;
}

/** The report of the stages in `done` (in the pipeline's order), with the page's plan. */
export async function pageReport(
  spec: PipelineSpec,
  hash: string,
  plan: PipelinePlan,
  done: Map<string, ReportStage>,
): Promise<string> {
  const order = stageOrder(spec).filter((s) => done.has(s.name));
  // what run.json would hold, through JSON as there
  const runJson = JSON.parse(JSON.stringify({
    name: spec.name,
    hash,
    seed: spec.seed,
    stages: order.map((s) => ({
      name: s.name,
      kind: spec.stages[s.name].kind,
      dir: s.name,
      cached: done.get(s.name)!.cached,
      dependsOn: s.dependsOn,
    })),
    plan,
  }));
  const run = parseRunJson(runJson, "run.json");
  const data: RunData = {
    dir: spec.name,
    name: run.name,
    hash: run.hash,
    seed: run.seed ?? parseSeed(spec, "spec"),
    plan: run.plan,
    stages: run.stages.map((ref) => {
      const stage = done.get(ref.name)!;
      const metrics = stage.lines.map((l) => JSON.stringify(l) + "\n").join("");
      return {
        ref,
        spec: {
          pipeline: spec.name,
          seed: spec.seed,
          stage: ref.name,
          spec: spec.stages[ref.name],
          model: spec.model,
        },
        metrics: parseMetrics(metrics, `${ref.name}/metrics.jsonl`),
        summary: parseSummary(JSON.parse(JSON.stringify(stage.summary)), `${ref.name}/summary.json`),
        plan: run.plan?.stages.find((p) => p.name === ref.name),
      };
    }),
  };
  return await renderReport(data);
}

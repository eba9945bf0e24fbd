/**
 * Runs an evaluate stage in the page: the CLI's own evaluation (src/run/evaluate.ts: validation loss, exact
 * match, recognition) on the page's WebGPU device, over the weights its train stage ended with here, with the
 * batch the page's plan fitted to this adapter's limits. Stages evaluated with onnxruntime run only from the CLI.
 */
import type { DomainCache } from "../../compile/domains.ts";
import { evaluatedDomains, type PipelinePlan, planForwardStage } from "../../compile/pipeline_plan.ts";
import { checkDevice } from "../../gpu/errors.ts";
import { runEvaluate } from "../../run/evaluate.ts";
import { notFiniteMetric } from "../../run/finite.ts";
import type { PipelineSpec } from "../../spec/types.ts";
import type { StageResult } from "./stage.ts";

/** Whether the page can run stage `name`: train stages, and evaluate stages on WebGPU. */
export function runsInPage(spec: PipelineSpec, name: string): boolean {
  const stage = spec.stages[name];
  return stage.kind === "train" || (stage.kind === "evaluate" && (stage.backend ?? "webgpu") === "webgpu");
}

/** Evaluates stage `name` over its train stage's result (`trained`); its summary as the CLI writes it. */
export async function evaluateInPage(
  device: GPUDevice,
  spec: PipelineSpec,
  plan: PipelinePlan,
  name: string,
  domains: DomainCache,
  trained: StageResult,
): Promise<StageResult> {
  const stage = spec.stages[name];
  if (stage.kind !== "evaluate") throw new Error(`stage ${name} is not an evaluate stage`);
  const started = performance.now();
  await domains.load(evaluatedDomains(spec, stage));
  const batch = plan.stages.find((s) => s.name === name)?.forward?.batch ??
    planForwardStage(spec, name, stage, domains, plan.limits)?.batch ?? 1;
  const summary = await runEvaluate({ device, spec, name, stage, domains, weights: trained.weights, batch });
  // a device error after the last read still fails the stage, and a NaN metric is never shown as a result
  await checkDevice(device);
  const bad = notFiniteMetric(summary);
  if (bad) throw new Error(`stage ${name}: ${bad}`);
  const wallSeconds = Math.round((performance.now() - started) / 10) / 100;
  return { weights: new Map(), summary: { ...summary, wallSeconds } };
}

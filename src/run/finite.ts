/** What a run says when its numbers stop being finite: shared by a stage run alone and a packed run. */

/** The cause for the first non-finite loss (`lossStep`) or weights (`weightStep`), 0 meaning none. */
export function notFiniteCause(lossStep: number, weightStep: number): string {
  return lossStep > 0 && (weightStep === 0 || lossStep <= weightStep)
    ? `the loss is not finite at step ${lossStep}`
    : `the weights or optimiser moments are not finite after step ${weightStep}`;
}

/**
 * The first metric of `summary` that is NaN or infinite, as "name is value", or undefined when all are
 * finite: such a summary is never written (null in JSON would look like data).
 */
export function notFiniteMetric(summary: Record<string, unknown>): string | undefined {
  const metrics = (summary.metrics ?? {}) as Record<string, unknown>;
  for (const [name, v] of Object.entries(metrics)) {
    if (typeof v === "number" && !Number.isFinite(v)) return `${name} is ${v}`;
  }
  return undefined;
}

/** A quick look at a pipeline: every train stage cut to a few steps (`--steps`, and the page's steps box). */
import type { PipelineSpec } from "./types.ts";

/** The spec with every train stage cut to `steps` steps (for a quick look), cadences capped to match. */
export function withSteps(spec: PipelineSpec, steps: number): PipelineSpec {
  const stages = Object.fromEntries(
    Object.entries(spec.stages).map(([name, s]) => {
      if (s.kind !== "train") return [name, s];
      const cap = (n: number | undefined) => Math.min(n ?? steps, steps);
      const optimizer = { ...s.optimizer, warmup: Math.min(s.optimizer.warmup ?? 0, Math.floor(steps / 10)) };
      return [name, {
        ...s,
        steps,
        optimizer,
        evalEvery: cap(s.evalEvery),
        logEvery: cap(s.logEvery),
        checkpointEvery: cap(s.checkpointEvery),
      }];
    }),
  );
  return { ...spec, stages };
}

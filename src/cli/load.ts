/** Reads a pipeline file: YAML as data, TypeScript by importing its default export. */
import { PipelineError } from "../spec/problem.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { validatePipeline } from "../spec/validate.ts";
import { parseYaml } from "../spec/yaml.ts";
import { parse } from "yaml";
import { type SweepSpec, validateSweep } from "../spec/sweep.ts";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

/** The validated spec in `file` (`.yaml`, `.yml`, `.ts`, `.json`). */
export async function loadPipeline(file: string): Promise<PipelineSpec> {
  return (await loadPipelineFile(file)).spec;
}

/** The validated spec in `file` and the sweep it declares, if any (validated against the spec). */
export async function loadPipelineFile(file: string): Promise<{ spec: PipelineSpec; sweep?: SweepSpec }> {
  let text: string;
  if (/\.(ya?ml|json)$/.test(file)) {
    try {
      text = await Deno.readTextFile(file);
    } catch (e) {
      throw new PipelineError(
        [{ path: "(file)", message: `cannot read ${file}: ${(e as Error).message}` }],
        file,
      );
    }
    if (file.endsWith(".json")) return splitSweep(JSON.parse(text), { file });
    const { value, locations } = parseYaml(text, file);
    return splitSweep(value, { file, locations });
  }
  if (!file.endsWith(".ts")) {
    throw new PipelineError([{
      path: "(file)",
      message: `expected a .ts, .yaml or .json pipeline file, found ${file}`,
    }]);
  }
  const mod = await import(pathToFileURL(resolve(file)).href);
  const value = mod.default;
  if (value === undefined) {
    throw new PipelineError([{
      path: "(file)",
      message: "expected a default export: the built pipeline spec",
    }], file);
  }
  if (typeof value?.build === "function") {
    const spec = validatePipeline(value.build(), { file });
    try {
      return { spec, sweep: value.sweepSpec?.() };
    } catch (e) {
      if (e instanceof PipelineError) throw new PipelineError(e.problems, file);
      throw e;
    }
  }
  return splitSweep(value, { file });
}

/** Validates a pipeline that may carry a `sweep` key beside its spec. */
function splitSweep(
  value: unknown,
  options: { file: string; locations?: Map<string, { line: number; column: number }> },
): { spec: PipelineSpec; sweep?: SweepSpec } {
  if (value === null || typeof value !== "object" || !("sweep" in value)) {
    return { spec: validatePipeline(value, options) };
  }
  const { sweep, ...rest } = value as Record<string, unknown>;
  const spec = validatePipeline(rest, options);
  return { spec, sweep: validateSweep(spec, sweep, options) };
}

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

/** A `--set` value read as YAML (`5e-4`, `[a, b]`, `{ kind: cosine }`); text that is not YAML stays text. */
export function parseSetValue(text: string): unknown {
  try {
    return parse(text, { schema: "core" });
  } catch {
    return text;
  }
}

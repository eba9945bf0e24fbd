/** Reads a pipeline file: YAML as data, TypeScript by importing its default export. */
import { PipelineError } from "../spec/problem.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { type SourceMap, validatePipeline } from "../spec/validate.ts";
import { parseYaml } from "../spec/yaml.ts";
import { parse } from "yaml";
import { type SweepSpec, validateSweep } from "../spec/sweep.ts";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { readPipelineText } from "./_read_text.ts";
import { safeInstanceOf, thrownValue } from "./_thrown.ts";

/** A validated spec, the sweep it declares (if any), and, for YAML, where each of its paths was written. */
export interface LoadedPipeline {
  spec: PipelineSpec;
  sweep?: SweepSpec;
  locations?: SourceMap;
}

/** The validated spec in `file` (`.yaml`, `.yml`, `.ts`, `.json`). */
export async function loadPipeline(file: string): Promise<PipelineSpec> {
  return (await loadPipelineSource(file)).spec;
}

/**
 * The validated spec in `file`, the sweep it declares (validated against the spec), and the positions of
 * its paths (YAML). Data files and folders named by the
 * domains must exist. Every problem is a `PipelineError` naming the file.
 */
export async function loadPipelineSource(file: string): Promise<LoadedPipeline> {
  if (/\.(ya?ml|json)$/.test(file)) {
    const text = await readPipelineText(file);
    if (file.endsWith(".json")) {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw fileError(file, `JSON: ${(e as Error).message.split("\n")[0].slice(0, 120)}`);
      }
      return splitSweep(value, { file, files: true });
    }
    const { value, locations } = parseYaml(text, file);
    return { ...splitSweep(value, { locations, file, files: true }), locations };
  }
  if (!file.endsWith(".ts")) {
    throw fileError(file, "expected a .ts, .yaml, .yml or .json pipeline file");
  }
  let spec: unknown;
  try {
    const mod = await import(pathToFileURL(resolve(file)).href);
    const value = mod.default;
    if (value === undefined) throw fileError(file, "expected a default export: the built pipeline spec");
    if (typeof value?.build !== "function") return splitSweep(value, { file, files: true });
    spec = validatePipeline(value.build(), { file, files: true });
    return { spec: spec as PipelineSpec, sweep: value.sweepSpec?.() };
  } catch (e) {
    if (safeInstanceOf(e, PipelineError)) throw e;
    throw fileError(file, thrownValue(e));
  }
}

/** Validates a pipeline that may carry a `sweep` key beside its spec. */
function splitSweep(
  value: unknown,
  options: { file: string; files?: boolean; locations?: SourceMap },
): { spec: PipelineSpec; sweep?: SweepSpec } {
  if (value === null || typeof value !== "object" || !Object.hasOwn(value, "sweep")) {
    return { spec: validatePipeline(value, options) };
  }
  const { sweep, ...rest } = value as Record<string, unknown>;
  const spec = validatePipeline(rest, options);
  return { spec, sweep: validateSweep(spec, sweep, options) };
}

function fileError(file: string, message: string): PipelineError {
  return new PipelineError([{ path: "(file)", message }], file);
}

export { withSteps } from "../spec/with_steps.ts";

/** A `--set` value read as YAML (`5e-4`, `[a, b]`, `{ kind: cosine }`); text that is not YAML stays text. */
export function parseSetValue(text: string): unknown {
  try {
    return parse(text, { schema: "core" });
  } catch {
    return text;
  }
}

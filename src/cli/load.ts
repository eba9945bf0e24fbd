/** Reads a pipeline file: YAML as data, TypeScript by importing its default export. */
import { PipelineError } from "../spec/problem.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { validatePipeline } from "../spec/validate.ts";
import { loadPipelineYaml } from "../spec/yaml.ts";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

/** The validated spec in `file` (`.yaml`, `.yml`, `.ts`, `.json`). */
export async function loadPipeline(file: string): Promise<PipelineSpec> {
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
    return file.endsWith(".json")
      ? validatePipeline(JSON.parse(text), { file })
      : loadPipelineYaml(text, file);
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
  const spec = typeof value?.build === "function" ? value.build() : value;
  return validatePipeline(spec, { file });
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

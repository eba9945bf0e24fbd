/** Reads a run folder (`run.json` and each stage's spec, metrics and summary) into RunData. */
import { join } from "node:path";
import { parseMetrics } from "./_parse_metrics.ts";
import { parseRunJson, parseSeed, parseSummary } from "./_parse_run.ts";
import { ReportInputError } from "./errors.ts";
import type { RunData, StageData } from "./types.ts";

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ReportInputError(`${path}: expected JSON, found unparsable text (${(e as Error).message})`);
  }
}

/**
 * Reads a run folder written by the runner. `run.json` is required; per stage, `spec.json`, `metrics.jsonl`
 * and `summary.json` are read when present (evaluate and export stages have no metrics).
 *
 * @example
 * ```ts ignore
 * const run = await loadRun("runs/multilingual");
 * console.log(run.stages.map((s) => s.ref.name));
 * ```
 */
export async function loadRun(runDir: string): Promise<RunData> {
  const runPath = join(runDir, "run.json");
  const runText = await readOptional(runPath);
  if (runText === undefined) {
    throw new ReportInputError(
      `${runPath}: expected the run's run.json, found no such file (is ${runDir} a run folder?)`,
    );
  }
  const run = parseRunJson(parseJson(runText, runPath), runPath);
  const stages: StageData[] = [];
  let specSeed: number | string | undefined;
  for (const ref of run.stages) {
    const dir = join(runDir, ref.dir);
    const specPath = join(dir, "spec.json");
    const specText = await readOptional(specPath);
    const spec = specText === undefined ? undefined : parseJson(specText, specPath);
    specSeed ??= parseSeed(spec, specPath);
    const metricsPath = join(dir, "metrics.jsonl");
    const metricsText = await readOptional(metricsPath);
    const summaryPath = join(dir, "summary.json");
    const summaryText = await readOptional(summaryPath);
    stages.push({
      ref,
      spec,
      metrics: metricsText === undefined ? undefined : parseMetrics(metricsText, metricsPath),
      summary: summaryText === undefined
        ? undefined
        : parseSummary(parseJson(summaryText, summaryPath), summaryPath),
      plan: run.plan?.stages.find((p) => p.name === ref.name),
    });
  }
  return { dir: runDir, name: run.name, hash: run.hash, seed: run.seed ?? specSeed, stages, plan: run.plan };
}

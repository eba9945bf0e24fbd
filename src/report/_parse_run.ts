/** Parses `run.json` (with its plan) and `summary.json` into typed objects, checking what the report reads. */
import * as check from "./_check.ts";
import type {
  PlanAdapter,
  PlanSampling,
  PlanStage,
  RunPlan,
  RunStageRef,
  StageSummary,
  SummaryTable,
} from "./types.ts";

/** The parsed `run.json`. */
export interface RunJson {
  name: string;
  hash: string;
  seed?: number | string;
  stages: RunStageRef[];
  plan?: RunPlan;
}

function seedOf(value: unknown, where: string): number | string {
  if (typeof value === "number" || typeof value === "string") return value;
  return check.fail(where, "a number or string", value);
}

/** Reads the optional top-level `seed` of a JSON object (run.json or a stage spec). */
export function parseSeed(value: unknown, where: string): number | string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  return check.optional((value as Record<string, unknown>).seed, (v) => seedOf(v, `${where}.seed`));
}

function parseStageRef(value: unknown, where: string): RunStageRef {
  const o = check.object(value, where);
  return {
    name: check.string(o.name, `${where}.name`),
    kind: check.string(o.kind, `${where}.kind`),
    dir: check.string(o.dir, `${where}.dir`),
    cached: check.boolean(o.cached, `${where}.cached`),
    dependsOn: check.strings(o.dependsOn, `${where}.dependsOn`),
  };
}

function parseAdapter(value: unknown, where: string): PlanAdapter {
  const o = check.object(value, where);
  return {
    pattern: check.string(o.pattern, `${where}.pattern`),
    rank: check.number(o.rank, `${where}.rank`),
    modules: check.strings(o.modules, `${where}.modules`),
  };
}

function parseSampling(value: unknown, where: string): PlanSampling {
  const o = check.object(value, where);
  return {
    domains: check.array(o.domains, `${where}.domains`).map((d, i) => {
      const od = check.object(d, `${where}.domains[${i}]`);
      return {
        name: check.string(od.name, `${where}.domains[${i}].name`),
        size: check.number(od.size, `${where}.domains[${i}].size`),
      };
    }),
    schedule: check.array(o.schedule ?? [], `${where}.schedule`).map((s, i) => {
      const os = check.object(s, `${where}.schedule[${i}]`);
      return {
        step: check.number(os.step, `${where}.schedule[${i}].step`),
        probabilities: check.numberRecord(os.probabilities, `${where}.schedule[${i}].probabilities`),
      };
    }),
  };
}

function parsePlanStage(value: unknown, where: string): PlanStage {
  const o = check.object(value, where);
  return {
    name: check.string(o.name, `${where}.name`),
    kind: check.string(o.kind, `${where}.kind`),
    dependsOn: check.strings(o.dependsOn ?? [], `${where}.dependsOn`),
    params: check.optional(o.params, (v) => {
      const p = check.object(v, `${where}.params`);
      return {
        total: check.number(p.total, `${where}.params.total`),
        trainable: check.number(p.trainable, `${where}.params.trainable`),
      };
    }),
    adapters: check.optional(
      o.adapters,
      (v) => check.array(v, `${where}.adapters`).map((a, i) => parseAdapter(a, `${where}.adapters[${i}]`)),
    ),
    memoryBytes: check.optional(o.memoryBytes, (v) => check.number(v, `${where}.memoryBytes`)),
    kernels: check.optional(o.kernels, (v) => check.array(v, `${where}.kernels`)),
    sampling: check.optional(o.sampling, (v) => parseSampling(v, `${where}.sampling`)),
  };
}

/** Parses a plan object; `where` prefixes every error path. */
export function parsePlan(value: unknown, where: string): RunPlan {
  const o = check.object(value, where);
  return {
    name: check.string(o.name, `${where}.name`),
    hash: check.string(o.hash, `${where}.hash`),
    stages: check.array(o.stages, `${where}.stages`).map((s, i) =>
      parsePlanStage(s, `${where}.stages[${i}]`)
    ),
  };
}

/** Parses the contents of `run.json`; `where` is the file path used in error messages. */
export function parseRunJson(value: unknown, where: string): RunJson {
  const o = check.object(value, where);
  return {
    name: check.string(o.name, `${where}: name`),
    hash: check.string(o.hash, `${where}: hash`),
    seed: parseSeed(o, `${where}:`),
    stages: check.array(o.stages, `${where}: stages`).map((s, i) =>
      parseStageRef(s, `${where}: stages[${i}]`)
    ),
    plan: check.optional(o.plan, (v) => parsePlan(v, `${where}: plan`)),
  };
}

function parseTable(value: unknown, where: string): SummaryTable {
  const o = check.object(value, where);
  const columns = check.strings(o.columns, `${where}.columns`);
  const rows = check.array(o.rows, `${where}.rows`).map((r, i) => {
    const row = check.array(r, `${where}.rows[${i}]`);
    if (row.length !== columns.length) {
      check.fail(`${where}.rows[${i}]`, `${columns.length} cells (one per column)`, row);
    }
    return row.map((cell, j) => {
      if (cell === null || typeof cell === "string" || typeof cell === "number") return cell;
      return check.fail(`${where}.rows[${i}][${j}]`, "a string, number or null", cell);
    });
  });
  return { title: check.string(o.title, `${where}.title`), columns, rows };
}

/** Parses the contents of a stage's `summary.json`; `where` is the file path used in error messages. */
export function parseSummary(value: unknown, where: string): StageSummary {
  const o = check.object(value, where);
  return {
    stage: check.string(o.stage, `${where}: stage`),
    steps: check.optional(o.steps, (v) => check.number(v, `${where}: steps`)),
    metrics: check.numberRecord(o.metrics ?? {}, `${where}: metrics`),
    tables: check.array(o.tables ?? [], `${where}: tables`).map((t, i) =>
      parseTable(t, `${where}: tables[${i}]`)
    ),
  };
}

/** The shapes of a run folder's files, as the report reads them. */

/** One stage entry of `run.json`. */
export interface RunStageRef {
  name: string;
  kind: string;
  /** Stage folder, relative to the run folder (`ft-1a2b3c4d`). */
  dir: string;
  /** True when the stage's outputs were reused from an earlier run with the same hash. */
  cached: boolean;
  dependsOn: string[];
}

/** An adapter placement in the plan: a module-path pattern, its rank and the modules it matched. */
export interface PlanAdapter {
  pattern: string;
  rank: number;
  modules: string[];
}

/** The sampling table of a planned stage: domain sizes and the planned probabilities over steps. */
export interface PlanSampling {
  domains: { name: string; size: number }[];
  schedule: { step: number; probabilities: Record<string, number> }[];
}

/** One stage of the plan object (`--plan`); every field past `dependsOn` is optional. */
export interface PlanStage {
  name: string;
  kind: string;
  dependsOn: string[];
  params?: { total: number; trainable: number };
  adapters?: PlanAdapter[];
  memoryBytes?: number;
  /** Kernel names, or objects with a `name`; shown as given. */
  kernels?: unknown[];
  sampling?: PlanSampling;
}

/** The plan object stored in `run.json`. */
export interface RunPlan {
  name: string;
  hash: string;
  stages: PlanStage[];
}

/** A `{"type":"train"}` line of `metrics.jsonl`. */
export interface TrainRecord {
  type: "train";
  step: number;
  loss?: number;
  lr?: number;
  temperature?: number;
  probabilities?: Record<string, number>;
  domainLoss?: Record<string, number>;
  epochs?: Record<string, number>;
  samplesPerSec?: number;
}

/** A `{"type":"eval"}` line of `metrics.jsonl`. */
export interface EvalRecord {
  type: "eval";
  step: number;
  validationLoss: Record<string, number>;
}

/** Bin edges (one more than counts) and counts of one gate-weight histogram. */
export interface GateHistogram {
  edges: number[];
  counts: number[];
}

/** A `{"type":"gate"}` line of `metrics.jsonl`: gate-weight histograms keyed by domain. */
export interface GateRecord {
  type: "gate";
  step: number;
  histogram: Record<string, GateHistogram>;
}

/** A table of `summary.json`. */
export interface SummaryTable {
  title: string;
  columns: string[];
  rows: (string | number | null)[][];
}

/** A stage's `summary.json`. */
export interface StageSummary {
  stage: string;
  steps?: number;
  metrics: Record<string, number>;
  tables: SummaryTable[];
}

/** The parsed records of one `metrics.jsonl`. */
export interface StageMetrics {
  train: TrainRecord[];
  evals: EvalRecord[];
  gates: GateRecord[];
  /** Lines not drawn, by record type (or "incomplete last line" while a stage is writing), shown in the report. */
  ignored: Record<string, number>;
}

/** Everything the report knows about one stage. */
export interface StageData {
  ref: RunStageRef;
  /** The stage's `spec.json`, or undefined when the file is absent. */
  spec?: unknown;
  /** Undefined when the stage wrote no `metrics.jsonl` (evaluate and export stages). */
  metrics?: StageMetrics;
  summary?: StageSummary;
  plan?: PlanStage;
}

/** A whole run folder, read. */
export interface RunData {
  /** The run folder as given to the loader. */
  dir: string;
  name: string;
  hash: string;
  /** The seed, when `run.json` or a stage spec carries a top-level `seed`. */
  seed?: number | string;
  stages: StageData[];
  plan?: RunPlan;
}

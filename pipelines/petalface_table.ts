/**
 * Tabulates runs of pipelines/petalface.ts over seeds as Markdown: per model (pretrained, full fine-tuning,
 * one LoRA, two gated LoRAs) the trainable share from the run's plan and, per recognition set, rank-1 and
 * TAR@FAR=1e-2 (and 1e-3) as mean ± sample std over seeds; then the gate's histogram per domain and the
 * ONNX parity of the export stage.
 *
 * `deno run --allow-read pipelines/petalface_table.ts [RUN ...]` where each RUN is a run folder
 * (the folder holding run.json); default: the variants of `deno task sweep pipelines/petalface.ts`
 * (`runs/petalface/variants/*`).
 *
 * @module
 */

/** A run folder that cannot be read as a petalface run. */
export class RunReadError extends Error {
  override name = "RunReadError";
}

/** One evaluated model of one run (one seed). */
export interface ModelRun {
  /** The train stage the evaluate stage read. */
  stage: string;
  /** Human name of the variant, from the train stage's spec. */
  model: string;
  seed: number;
  /** Trainable parameters and their share of all parameters, from the run's plan. */
  trainable: number;
  total: number;
  /** Recognition metrics as the evaluate stage wrote them: `rank1/<set>`, `tar@1e-2/<set>`, ... */
  metrics: Record<string, number | null>;
}

/** Gate histogram of one domain, as the gated stage logged it at step 0. */
export interface GateCounts {
  edges: number[];
  counts: number[];
}

/** Everything the tables need from one run. */
export interface PetalfaceRun {
  seed: number;
  models: ModelRun[];
  /** Per gated train stage: its gate histogram per domain and its fixed quality scale. */
  gates: { stage: string; histogram: Record<string, GateCounts>; scale?: { low: number; high: number } }[];
  /** Per export stage: max relative and absolute embedding error of onnxruntime against WebGPU. */
  parity: { stage: string; images: number; maxRelError: number; maxAbsError: number }[];
}

interface TrainSpecJson {
  kind: string;
  from?: string;
  adapters?: { gated?: boolean }[];
  trainable?: string[];
}

/** The variant's name from its train stage's spec. */
export function modelName(spec: TrainSpecJson): string {
  const adapters = spec.adapters ?? [];
  if (adapters.some((a) => a.gated)) return "two gated LoRAs (PETALface)";
  if (adapters.length === 1) return "one LoRA";
  if (adapters.length > 1) return `${adapters.length} LoRAs`;
  if (spec.from === undefined) return "pretrained, no fine-tuning";
  return (spec.trainable ?? ["*"]).includes("*")
    ? "full fine-tuning"
    : `fine-tuning ${spec.trainable!.join(", ")}`;
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new RunReadError(`${path}: cannot be read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new RunReadError(`${path}: is not JSON (${(e as Error).message})`);
  }
}

interface RunJson {
  seed: number;
  stages: { name: string; kind: string; dir: string }[];
  plan?: { stages: { name: string; params?: { total: number; trainable: number } }[] };
}

/** Reads one run folder; evaluate and export stages that have not finished are left out. */
export async function readRun(root: string): Promise<PetalfaceRun> {
  const run = await readJson<RunJson>(`${root}/run.json`);
  const dirOf = new Map(run.stages.map((s) => [s.name, `${root}/${s.dir}`]));
  const planOf = new Map((run.plan?.stages ?? []).map((s) => [s.name, s.params]));
  const models: ModelRun[] = [];
  const gates: PetalfaceRun["gates"] = [];
  const parity: PetalfaceRun["parity"] = [];
  for (const s of run.stages) {
    const dir = dirOf.get(s.name)!;
    if (s.kind === "train") {
      const metrics = await optionalText(`${dir}/metrics.jsonl`);
      const gate = metrics?.split("\n").filter((l) => l.includes('"type":"gate"')).map((l) =>
        JSON.parse(l)
      )[0];
      if (gate) {
        const summary = await optionalText(`${dir}/summary.json`);
        gates.push({
          stage: s.name,
          histogram: gate.histogram,
          scale: summary ? JSON.parse(summary).qualityScale : undefined,
        });
      }
      continue;
    }
    const summaryText = await optionalText(`${dir}/summary.json`);
    if (!summaryText) continue;
    const summary = JSON.parse(summaryText);
    if (s.kind === "export") {
      parity.push({ stage: s.name, ...summary.parity });
      continue;
    }
    const from = summary.from as string;
    const params = planOf.get(from);
    if (!params) {
      throw new RunReadError(`${root}/run.json: the plan has no parameter counts for stage "${from}"`);
    }
    const spec = (await readJson<{ spec: TrainSpecJson }>(`${dirOf.get(from)}/spec.json`)).spec;
    models.push({
      stage: from,
      model: modelName(spec),
      seed: run.seed,
      trainable: params.trainable,
      total: params.total,
      metrics: summary.metrics,
    });
  }
  return { seed: run.seed, models, gates, parity };
}

async function optionalText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Mean and sample standard deviation (0 for a single value). */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, std: 0 };
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1);
  return { mean, std: Math.sqrt(v) };
}

/** `mean ± std` of fractions, in percent with one decimal; "-" when no run has the value. */
export function pctCell(xs: readonly (number | null | undefined)[]): string {
  const v = xs.filter((x): x is number => typeof x === "number");
  if (v.length === 0) return "-";
  const { mean, std } = meanStd(v.map((x) => x * 100));
  return v.length > 1 ? `${mean.toFixed(1)} ± ${std.toFixed(1)}` : mean.toFixed(1);
}

/** Recognition set names in the order the runs report them. */
function setNames(runs: readonly PetalfaceRun[]): string[] {
  const names: string[] = [];
  for (const r of runs) {
    for (const m of r.models) {
      for (const k of Object.keys(m.metrics)) {
        const set = k.slice(k.indexOf("/") + 1);
        if (k.startsWith("rank1/") && !names.includes(set)) names.push(set);
      }
    }
  }
  return names;
}

function row(cells: string[]): string {
  return `| ${cells.join(" | ")} |`;
}

/** One table: a row per model, rank-1 and TAR at `far` per set, mean ± std over the runs. */
export function metricTable(runs: readonly PetalfaceRun[], far: "1e-2" | "1e-3"): string {
  const sets = setNames(runs);
  const stages = [...new Set(runs.flatMap((r) => r.models.map((m) => m.stage)))];
  const lines = [
    row(["model", "trainable", ...sets.flatMap((s) => [`${s} R1 %`, `${s} TAR@FAR=${far} %`])]),
    row(["---", "---:", ...sets.flatMap(() => ["---:", "---:"])]),
  ];
  for (const stage of stages) {
    const ms = runs.flatMap((r) => r.models.filter((m) => m.stage === stage));
    const first = ms[0];
    const share = `${(first.trainable / first.total * 100).toFixed(2)}% (${
      first.trainable.toLocaleString("en")
    })`;
    const cells = sets.flatMap((s) => [
      pctCell(ms.map((m) => m.metrics[`rank1/${s}`])),
      pctCell(ms.map((m) => m.metrics[`tar@${far}/${s}`])),
    ]);
    lines.push(row([first.model, share, ...cells]));
  }
  return lines.join("\n");
}

/** The gate histogram per domain of each run's gated stage (bins of g over [0, 1]). */
export function gateTable(runs: readonly PetalfaceRun[]): string {
  const lines: string[] = [];
  for (const r of runs) {
    for (const g of r.gates) {
      const domains = Object.keys(g.histogram);
      if (lines.length === 0) {
        const edges = g.histogram[domains[0]].edges;
        const bins = edges.slice(0, -1).map((e, i) =>
          `[${e}, ${edges[i + 1]}${i === edges.length - 2 ? "]" : ")"}`
        );
        lines.push(
          row(["seed", "stage", "domain", ...bins]),
          row(["---", "---", "---", ...bins.map(() => "---:")]),
        );
      }
      for (const d of domains) {
        lines.push(row([String(r.seed), g.stage, d, ...g.histogram[d].counts.map(String)]));
      }
    }
  }
  return lines.join("\n");
}

/** The whole Markdown: number of seeds, the two metric tables, gate histograms and ONNX parity. */
export function petalfaceTables(runs: readonly PetalfaceRun[]): string {
  const seeds = runs.map((r) => r.seed).join(", ");
  const parity = runs.flatMap((r) =>
    r.parity.map((p) =>
      `seed ${r.seed}, ${p.stage}: max relative error ${p.maxRelError.toExponential(2)}, max absolute ` +
      `${p.maxAbsError.toExponential(2)} over ${p.images} images`
    )
  );
  const scales = runs.flatMap((r) =>
    r.gates.filter((g) => g.scale).map((g) =>
      `seed ${r.seed}, ${g.stage}: raw sharpness ${g.scale!.low.toPrecision(3)} -> 0, ${
        g.scale!.high.toPrecision(3)
      } -> 1`
    )
  );
  return [
    `Mean ± sample std over ${runs.length} seed(s) (${seeds}); trainable share from the run's plan.`,
    "",
    metricTable(runs, "1e-2"),
    "",
    metricTable(runs, "1e-3"),
    "",
    "Gate values g of the fine-tuning images (counts per bin, logged at step 0):",
    "",
    gateTable(runs),
    "",
    ...(scales.length ? ["Quality scale:", "", ...scales.map((s) => `- ${s}`), ""] : []),
    ...(parity.length
      ? ["ONNX parity (onnxruntime CPU vs WebGPU, embeddings):", "", ...parity.map((p) => `- ${p}`)]
      : []),
  ].join("\n");
}

/** The variant folders of the sweep in runs/petalface (each holds its run.json). */
async function defaultRuns(): Promise<string[]> {
  let sweep: { variants: { name: string }[] };
  try {
    sweep = JSON.parse(await Deno.readTextFile("runs/petalface/sweep.json"));
  } catch {
    return [];
  }
  return sweep.variants.map((v) => `runs/petalface/variants/${v.name}`);
}

if (import.meta.main) {
  try {
    const roots = Deno.args.length ? Deno.args : await defaultRuns();
    if (roots.length === 0) {
      throw new RunReadError(
        "no runs/petalface/sweep.json (run deno task sweep pipelines/petalface.ts) and no run folders given",
      );
    }
    console.log(petalfaceTables(await Promise.all(roots.map(readRun))));
  } catch (e) {
    console.error(e instanceof RunReadError ? e.message : e);
    Deno.exit(1);
  }
}

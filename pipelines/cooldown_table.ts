/**
 * Tabulates runs of pipelines/cooldown.ts over seeds as Markdown: final validation loss per language
 * (mean ± sample std over seeds), the high- and low-resource averages, the validation curves of the
 * largest and smallest language, and how far each method's smallest-language loss rose after its best.
 *
 * `deno run --allow-read pipelines/cooldown_table.ts [RUN ...]` where each RUN is a run folder, the one
 * holding run.json; default: the variants of `deno task sweep pipelines/cooldown.ts`
 * (`runs/cooldown/variants/*`).
 * Languages are ranked by training size; the larger half is "high-resource", the rest "low-resource".
 *
 * @module
 */

/** One train stage of one run (one seed): what the tables need. */
export interface StageRun {
  stage: string;
  /** Human name of the mixing method, from the stage's spec. */
  method: string;
  seed: number;
  /** Training examples per language (from summary.json), empty when the stage has not finished. */
  sizes: Record<string, number>;
  /** Final validation loss per language; undefined when the stage has not finished. */
  final?: Record<string, number>;
  /** Validation loss per language at each evaluated step. */
  curve: Map<number, Record<string, number>>;
  /** Mean logged training loss per language over the last 10% of steps. */
  lateTrain: Record<string, number>;
  steps: number;
}

/** A run folder that cannot be read as a cooldown run. */
export class RunReadError extends Error {
  override name = "RunReadError";
}

interface MixJson {
  strategy: string;
  temperature?: number | {
    kind: string;
    temperature?: number;
    phases?: { until: number; temperature: number }[];
  };
  epochCap?: number;
}

/** The method's name from a train stage's mix: "T = 5", "scalarization T = 5", "UniMax (cap 1)", ... */
export function methodName(mix: MixJson): string {
  const t = typeof mix.temperature === "object"
    ? mix.temperature
    : { kind: "constant", temperature: mix.temperature ?? 1 };
  let temp = `T schedule ${t.kind}`;
  if (t.temperature !== undefined) temp = `T = ${t.temperature}`;
  else if (t.phases) {
    temp = `Cooldown (${t.phases.map((p) => `T = ${p.temperature}`).join(" then ")} from ` +
      `${t.phases.slice(0, -1).map((p) => p.until).join(", ")})`;
  }
  if (mix.strategy === "temperature") return temp;
  if (mix.strategy === "scalarization") return `scalarization ${temp}`;
  if (mix.strategy === "unimax") return `UniMax (cap ${mix.epochCap ?? 1})`;
  return mix.strategy;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new RunReadError(`${path}: ${(e as Error).message}`);
  }
}

/** Every train stage of the run in `root` (a folder with run.json); unfinished stages have no `final`. */
export async function readRun(root: string): Promise<StageRun[]> {
  const run = await readJson(`${root}/run.json`) as
    | { seed: number; stages: { name: string; kind: string; dir: string }[] }
    | undefined;
  if (!run) {
    throw new RunReadError(
      `${root}/run.json not found: expected a run folder such as runs/cooldown-seed1/cooldown`,
    );
  }
  const out: StageRun[] = [];
  for (const s of run.stages.filter((x) => x.kind === "train")) {
    const dir = `${root}/${s.dir}`;
    const spec = await readJson(`${dir}/spec.json`) as { spec: { mix: MixJson; steps: number } } | undefined;
    if (!spec) continue;
    const summary = await readJson(`${dir}/summary.json`) as
      | { metrics: Record<string, number>; tables: { rows: unknown[][] }[] }
      | undefined;
    let lines: Record<string, unknown>[] = [];
    try {
      lines = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).split("\n").filter((l) => l).map((l) =>
        JSON.parse(l)
      );
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const steps = spec.spec.steps;
    const curve = new Map<number, Record<string, number>>();
    const late: Record<string, number[]> = {};
    for (const l of lines) {
      if (l.type === "eval") curve.set(l.step as number, l.validationLoss as Record<string, number>);
      if (l.type === "train" && (l.step as number) > 0.9 * steps) {
        for (const [d, v] of Object.entries(l.domainLoss as Record<string, number>)) (late[d] ??= []).push(v);
      }
    }
    const sizes: Record<string, number> = {};
    let final: Record<string, number> | undefined;
    if (summary) {
      for (const row of summary.tables[0]?.rows ?? []) sizes[row[0] as string] = row[1] as number;
      final = {};
      for (const [k, v] of Object.entries(summary.metrics)) {
        if (k.startsWith("validation_loss/")) final[k.slice("validation_loss/".length)] = v;
      }
    }
    out.push({
      stage: s.name,
      method: methodName(spec.spec.mix),
      seed: run.seed,
      sizes,
      final,
      curve,
      lateTrain: Object.fromEntries(Object.entries(late).map(([d, v]) => [d, mean(v)])),
      steps,
    });
  }
  return out;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, x) => a + x, 0) / xs.length;
}

/** Mean and sample standard deviation (n - 1; 0 for a single value). */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const m = mean(xs);
  const v = xs.length > 1 ? xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1) : 0;
  return { mean: m, std: Math.sqrt(v) };
}

function cell(xs: readonly number[]): string {
  if (xs.length === 0) return "–";
  const { mean: m, std } = meanStd(xs);
  return xs.length > 1 ? `${m.toFixed(3)} ± ${std.toFixed(3)}` : m.toFixed(3);
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(" | ")} |`;
}

function header(cells: readonly string[]): string[] {
  return [row(cells), row(cells.map(() => "---"))];
}

/** The Markdown tables of several runs (one per seed) of the same pipeline. */
export function cooldownTables(runs: readonly StageRun[][]): string {
  const all = runs.flat();
  const finished = all.filter((r) => r.final);
  if (finished.length === 0) throw new RunReadError("no finished train stage in the runs given");
  const sizes = finished[0].sizes;
  const languages = Object.keys(sizes).sort((a, b) => sizes[b] - sizes[a]);
  const high = languages.slice(0, Math.ceil(languages.length / 2));
  const low = languages.slice(high.length);
  const largest = languages[0];
  const smallest = languages[languages.length - 1];
  const stages = [...new Set(all.map((r) => r.stage))];
  const byStage = (s: string) => all.filter((r) => r.stage === s);
  const methodOf = (s: string) => byStage(s)[0].method;
  const out: string[] = [];

  out.push(
    `Final validation loss (nats per byte), mean ± std over seeds; high-resource = ${high.join(", ")}, ` +
      `low-resource = ${low.join(", ")} (the mean of the languages' losses, per seed).`,
    "",
  );
  out.push(...header(["method", "seeds", ...languages, "high avg", "low avg"]));
  for (const s of stages) {
    const done = byStage(s).filter((r) => r.final);
    const per = (d: string) => done.map((r) => r.final![d]);
    const avg = (group: string[]) => done.map((r) => mean(group.map((d) => r.final![d])));
    out.push(
      row([
        methodOf(s),
        String(done.length),
        ...languages.map((d) => cell(per(d))),
        cell(avg(high)),
        cell(avg(low)),
      ]),
    );
  }

  for (const d of [largest, smallest]) {
    out.push(
      "",
      `Validation loss of ${d} (${d === largest ? "largest" : "smallest"}: ${sizes[d]} training windows) ` +
        "over training, mean over the seeds that reached each step.",
      "",
    );
    out.push(...header(["step", ...stages.map(methodOf)]));
    const steps = [...new Set(all.flatMap((r) => [...r.curve.keys()]))].sort((a, b) => a - b);
    for (const step of steps) {
      const cells = stages.map((s) => {
        const xs = byStage(s).map((r) => r.curve.get(step)?.[d]).filter((x): x is number => x !== undefined);
        return xs.length ? mean(xs).toFixed(3) : "–";
      });
      out.push(row([String(step), ...cells]));
    }
  }

  out.push(
    "",
    `${smallest}: lowest validation loss during training and its step (mean over seeds), the final loss minus ` +
      `the lowest (> 0: it rose late), and the mean logged training loss on ${smallest} over the last 10% of ` +
      "steps (rows drawn from it only; T = 1 draws it rarely).",
    "",
  );
  out.push(...header(["method", "best loss", "best step", "final − best", `train loss (last 10%)`]));
  for (const s of stages) {
    const done = byStage(s).filter((r) => r.final);
    const best = done.map((r) => {
      let b = { step: 0, loss: Infinity };
      for (const [step, v] of r.curve) if (v[smallest] < b.loss) b = { step, loss: v[smallest] };
      return { ...b, rise: r.final![smallest] - b.loss };
    });
    const train = done.map((r) => r.lateTrain[smallest]).filter((x) => x !== undefined);
    out.push(row([
      methodOf(s),
      cell(best.map((b) => b.loss)),
      best.length ? mean(best.map((b) => b.step)).toFixed(0) : "–",
      cell(best.map((b) => b.rise)),
      cell(train),
    ]));
  }
  return out.join("\n");
}

/** The variant folders of the sweep in runs/cooldown (each holds its run.json). */
async function defaultRuns(): Promise<string[]> {
  let sweep: { variants: { name: string }[] };
  try {
    sweep = JSON.parse(await Deno.readTextFile("runs/cooldown/sweep.json"));
  } catch {
    return [];
  }
  return sweep.variants.map((v) => `runs/cooldown/variants/${v.name}`);
}

if (import.meta.main) {
  try {
    const roots = Deno.args.length ? Deno.args : await defaultRuns();
    if (roots.length === 0) {
      throw new RunReadError(
        "no runs/cooldown/sweep.json (run deno task sweep pipelines/cooldown.ts) and no run folders given",
      );
    }
    console.log(cooldownTables(await Promise.all(roots.map(readRun))));
  } catch (e) {
    if (!(e instanceof RunReadError)) throw e;
    console.error(e.message);
    Deno.exit(2);
  }
}

/** Writes small synthetic run folders in the runner's format for the report tests. */
import { join } from "node:path";

/** Options of a fixture run: the seed shifts every value so several seeds have a spread. */
export interface FixtureOptions {
  name?: string;
  seed?: number;
  /** Training steps of the mixed fine-tuning stage (a record every 10 steps). */
  steps?: number;
}

const DOMAINS = ["el", "vi", "tr"];

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2));
}

function planStages(): unknown[] {
  const modules = (kind: string) => [0, 1].map((i) => `blocks.${i}.attn.${kind}`);
  return [
    {
      name: "pretrain",
      kind: "train",
      dependsOn: [],
      params: { total: 120_000, trainable: 120_000 },
      memoryBytes: 3_500_000,
    },
    {
      name: "ft",
      kind: "train",
      dependsOn: ["pretrain"],
      params: { total: 125_000, trainable: 5_000 },
      adapters: [{ pattern: "blocks.*.attn.qkv", rank: 8, modules: modules("qkv") }],
      memoryBytes: 2_100_000,
      kernels: ["matmul", "softmax", { name: "lora_fused" }],
      sampling: {
        domains: [{ name: "el", size: 400 }, { name: "vi", size: 4000 }, { name: "tr", size: 1200 }],
        schedule: [{ step: 0, probabilities: { el: 0.2, vi: 0.5, tr: 0.3 } }],
      },
    },
    {
      name: "petal",
      kind: "train",
      dependsOn: ["pretrain"],
      params: { total: 130_000, trainable: 10_000 },
      adapters: [{ pattern: "blocks.*.attn.proj", rank: 4, modules: modules("proj") }],
      memoryBytes: 2_300_000,
      sampling: {
        domains: [{ name: "hr", size: 600 }, { name: "lr", size: 600 }],
        schedule: [{ step: 0, probabilities: { hr: 0.5, lr: 0.5 } }, {
          step: 50,
          probabilities: { hr: 0.3, lr: 0.7 },
        }],
      },
    },
    { name: "eval", kind: "evaluate", dependsOn: ["ft", "petal"] },
    { name: "export", kind: "export", dependsOn: ["ft"] },
  ];
}

function ftMetrics(seed: number, steps: number): string {
  const lines: unknown[] = [];
  const epochs: Record<string, number> = Object.fromEntries(DOMAINS.map((d) => [d, 0]));
  for (let step = 10; step <= steps; step += 10) {
    const t = step / steps;
    const temperature = 5 - 4 * t;
    const raw = DOMAINS.map((_, i) => Math.pow([400, 4000, 1200][i], 1 / temperature));
    const sum = raw.reduce((a, b) => a + b, 0);
    const probabilities = Object.fromEntries(DOMAINS.map((d, i) => [d, raw[i] / sum]));
    const domainLoss = Object.fromEntries(DOMAINS.map((d, i) => [d, 3 - 1.5 * t + 0.1 * i + 0.01 * seed]));
    // Batches of 4 examples: each domain's epochs grow by 10 steps x 4 x p / size.
    DOMAINS.forEach((d, i) => epochs[d] += 40 * probabilities[d] / [400, 4000, 1200][i]);
    const loss = 3 - 1.5 * t + 0.1 + 0.01 * seed;
    lines.push({
      type: "train",
      step,
      loss,
      lr: 0.001 * (1 - t),
      temperature,
      probabilities,
      domainLoss,
      epochs: { ...epochs },
      samplesPerSec: 120 + seed,
    });
    if (step % 50 === 0) {
      const validationLoss = Object.fromEntries(
        DOMAINS.map((d, i) => [d, 3.1 - 1.4 * t + 0.1 * i + 0.02 * seed]),
      );
      lines.push({ type: "eval", step, validationLoss });
    }
  }
  lines.push({ type: "debug", step: steps, note: "unknown record types are counted, not drawn" });
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}

function petalMetrics(seed: number): string {
  const lines: unknown[] = [];
  const edges = Array.from({ length: 11 }, (_, i) => i / 10);
  for (let step = 10; step <= 100; step += 10) {
    lines.push({
      type: "train",
      step,
      loss: 2 - step / 100 + 0.01 * seed,
      domainLoss: { hr: 1.8 - step / 120, lr: 2.2 - step / 150 },
    });
    if (step % 50 === 0) {
      const shift = step / 50;
      lines.push({
        type: "gate",
        step,
        histogram: {
          hr: { edges, counts: edges.slice(1).map((_, i) => Math.max(0, 10 - Math.abs(i - 6 - shift) * 3)) },
          lr: { edges, counts: edges.slice(1).map((_, i) => Math.max(0, 10 - Math.abs(i - 3 + shift) * 3)) },
        },
      });
    }
  }
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}

/** Writes a five-stage run (pretrain -> ft, petal -> eval, export) under `root`; returns the run folder. */
export async function writeFixtureRun(root: string, options: FixtureOptions = {}): Promise<string> {
  const name = options.name ?? "multilingual";
  const seed = options.seed ?? 0;
  const steps = options.steps ?? 200;
  const runDir = join(root, `${name}-seed${seed}`);
  const hash = `h${seed}`.padEnd(8, "0");
  const stages = [
    { name: "pretrain", kind: "train", dependsOn: [], cached: true },
    { name: "ft", kind: "train", dependsOn: ["pretrain"], cached: false },
    { name: "petal", kind: "train", dependsOn: ["pretrain"], cached: false },
    { name: "eval", kind: "evaluate", dependsOn: ["ft", "petal"], cached: false },
    { name: "export", kind: "export", dependsOn: ["ft"], cached: false },
  ].map((s) => ({ ...s, dir: `${s.name}-${hash}` }));
  for (const s of stages) {
    await Deno.mkdir(join(runDir, s.dir), { recursive: true });
    await writeJson(join(runDir, s.dir, "spec.json"), { name: s.name, kind: s.kind, seed });
  }
  await writeJson(join(runDir, "run.json"), {
    name,
    hash,
    stages,
    plan: { name, hash, stages: planStages() },
  });
  const pretrain = [10, 20, 30].map((step) =>
    JSON.stringify({ type: "train", step, loss: 5 - step / 10, lr: 0.01 })
  );
  await Deno.writeTextFile(join(runDir, stages[0].dir, "metrics.jsonl"), pretrain.join("\n") + "\n");
  await Deno.writeTextFile(join(runDir, stages[1].dir, "metrics.jsonl"), ftMetrics(seed, steps));
  await Deno.writeTextFile(join(runDir, stages[2].dir, "metrics.jsonl"), petalMetrics(seed));
  await writeJson(join(runDir, stages[1].dir, "summary.json"), {
    stage: "ft",
    steps,
    metrics: { "loss.final": 1.6 + 0.01 * seed, "val.el": 1.7 + 0.02 * seed },
    tables: [{
      title: "Validation loss by domain",
      columns: ["domain", "val loss"],
      rows: DOMAINS.map((d, i) => [d, 1.7 + 0.1 * i + 0.02 * seed]),
    }],
  });
  await writeJson(join(runDir, stages[3].dir, "summary.json"), {
    stage: "eval",
    metrics: { accuracy: 0.9 + 0.01 * seed, "tar@far=1e-4": 0.8 - 0.005 * seed },
    tables: [{
      title: "Accuracy by model",
      columns: ["model", "accuracy", "note"],
      rows: [["ft", 0.9 + 0.01 * seed, "mixed"], ["petal", 0.85 + 0.02 * seed, null]],
    }],
  });
  return runDir;
}

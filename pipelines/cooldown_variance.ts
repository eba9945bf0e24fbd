/**
 * The variance claim of "Upsample or Upweight?": at the same temperature, scalarization (proportional draws,
 * loss weights p(i; T) / p(i; 1)) and temperature sampling have the same expected gradient, but
 * scalarization's mini-batch gradients vary more. From one set of weights, this draws K mini-batches under
 * each strategy, computes each batch's full gradient (the compiled forward and backward, no optimizer step,
 * no clipping) and prints the variance of the gradient norm, the mean squared deviation from the mean
 * gradient, and their ratios with bootstrap intervals.
 *
 * `deno run -A pipelines/cooldown_variance.ts [--batches K] [--temperature T] [--seed N] [--weights FILE]`
 * Data, model and batch size are those of pipelines/cooldown.ts. Without `--weights` the model is at its
 * initialisation (seed N); with it, e.g. `runs/cooldown/t1-<hash>/weights.safetensors`, at the
 * end of that stage.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runScript } from "../src/cli/script.ts";
import { scalarization, temperature } from "../mod.ts";
import { ParamStore, read } from "../src/compile/param_store.ts";
import { Program, type Slot } from "../src/compile/program.ts";
import { stepGraph } from "../src/compile/train_step.ts";
import { domainSizes, Sampler } from "../src/data/mod.ts";
import { Rng } from "../src/random.ts";
import { gpu } from "../src/gpu/device.ts";
import type { Node } from "../src/graph/node.ts";
import { tokens } from "../src/models/config.ts";
import { buildModel } from "../src/models/graph.ts";
import { initParams } from "../src/models/params.ts";
import { trainBatch } from "../src/run/batches.ts";
import { readWeights } from "../src/run/checkpoint.ts";
import { DomainCache } from "../src/compile/domains.ts";
import { mixStrategy } from "../src/compile/stage_setup.ts";
import type { MixSpec, PipelineSpec } from "../src/spec/types.ts";
import cooldown from "./cooldown.ts";

/** Spread of a set of mini-batch gradients. */
export interface GradientStats {
  batches: number;
  /** Mean of ||g_k||. */
  meanNorm: number;
  /** Sample variance of ||g_k|| over the batches. */
  normVariance: number;
  /** Mean gradient. */
  mean: Float64Array;
  /** ||g_k - mean||^2 of each batch. */
  deviations: Float64Array;
  /** Sum of deviations / (K - 1): the trace of the gradient covariance. */
  traceCovariance: number;
  norms: Float64Array;
}

/** Norms, their variance, the mean gradient and each batch's squared deviation from it. */
export function gradientStats(grads: readonly Float32Array[]): GradientStats {
  const K = grads.length;
  if (K < 2) throw new RangeError(`gradient statistics need at least 2 batches, found ${K}`);
  const n = grads[0].length;
  const mean = new Float64Array(n);
  const norms = new Float64Array(K);
  grads.forEach((g, k) => {
    let s = 0;
    for (let j = 0; j < n; j++) {
      mean[j] += g[j] / K;
      s += g[j] * g[j];
    }
    norms[k] = Math.sqrt(s);
  });
  const deviations = new Float64Array(K);
  grads.forEach((g, k) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += (g[j] - mean[j]) ** 2;
    deviations[k] = s;
  });
  const meanNorm = norms.reduce((a, x) => a + x, 0) / K;
  const normVariance = norms.reduce((a, x) => a + (x - meanNorm) ** 2, 0) / (K - 1);
  const traceCovariance = deviations.reduce((a, x) => a + x, 0) / (K - 1);
  return { batches: K, meanNorm, normVariance, mean, deviations, traceCovariance, norms };
}

/** Sample variance of `xs`. */
function variance(xs: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i] / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - m) ** 2;
  return v / (xs.length - 1);
}

/**
 * A percentile bootstrap interval (2.5%, 97.5%) of stat(a) / stat(b), resampling each set's values with
 * replacement `reps` times.
 */
export function bootstrapRatio(
  a: Float64Array,
  b: Float64Array,
  stat: (xs: Float64Array) => number,
  reps: number,
  seed: number,
): [number, number] {
  const rng = new Rng(seed, 0x626f6f74);
  const draw = (xs: Float64Array) => {
    const out = new Float64Array(xs.length);
    for (let i = 0; i < xs.length; i++) out[i] = xs[rng.int(xs.length)];
    return out;
  };
  // A resample of identical values can give 0 / 0; such ratios are left out.
  const ratios = Array.from({ length: reps }, () => stat(draw(a)) / stat(draw(b)))
    .filter((r) => !Number.isNaN(r))
    .sort((x, y) => x - y);
  if (ratios.length === 0) return [NaN, NaN];
  const at = (q: number) => ratios[Math.min(ratios.length - 1, Math.floor(q * ratios.length))];
  return [at(0.025), at(0.975)];
}

interface Sampled {
  grads: Float32Array[];
  losses: number[];
  /** Rows drawn from each domain over all batches. */
  rows: number[];
  /** Largest loss weight of any row. */
  maxWeight: number;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      batches: { type: "string", default: "200" },
      temperature: { type: "string", default: "5" },
      seed: { type: "string", default: "1" },
      weights: { type: "string" },
    },
  });
  const K = Number(values.batches);
  const T = Number(values.temperature);
  const seed = Number(values.seed);
  if (!Number.isInteger(K) || K < 2) {
    throw new RangeError(`--batches: expected an integer >= 2, found ${values.batches}`);
  }
  if (!(T > 0)) throw new RangeError(`--temperature: expected a number > 0, found ${values.temperature}`);
  if (!Number.isInteger(seed) || seed < 0) {
    throw new RangeError(`--seed: expected an integer >= 0, found ${values.seed}`);
  }

  const spec: PipelineSpec = { ...cooldown.build(), seed };
  const model = spec.model;
  const stage = Object.values(spec.stages).find((s) => s.kind === "train");
  if (!stage || stage.kind !== "train") throw new Error("pipelines/cooldown.ts has no train stage");
  const batch = stage.batch;
  const names = stage.mix.domains;
  const context = tokens(model);
  const cache = new DomainCache(spec);
  await cache.load(names);
  const domains = cache.all(names);
  const sizes = domainSizes(domains, context);

  const { device } = await gpu();
  const graph = buildModel(model, {
    batch,
    domains: names.length,
    loss: { kind: "lm" },
    trainable: () => true,
  });
  const params = [...graph.params.values()];
  const store = new ParamStore(
    device,
    params.map((p) => ({ name: p.name, shape: p.shape, trainable: true })),
  );
  const grad = store.like("grad");
  const metrics = store.like("metrics");
  const pinned = new Map<Node, Slot>();
  for (const p of params) pinned.set(p, store.slot(p.name));
  const { gradNodes, loss, domainLoss, outputs } = stepGraph(graph);
  for (const [p, g] of gradNodes) pinned.set(g, store.slotIn(grad, p.name));
  pinned.set(loss, { buffer: metrics, offset: 0, bytes: 4 });
  pinned.set(domainLoss, { buffer: metrics, offset: 256, bytes: names.length * 4 });
  const program = await Program.compile(device, outputs, { pinned });
  const start = values.weights
    ? readWeights(await Deno.readFile(values.weights)).weights
    : initParams(model, seed);
  store.upload(start);

  const sample = async (mix: MixSpec, stream: number): Promise<Sampled> => {
    const sampler = new Sampler({
      sizes,
      strategy: mixStrategy(mix, K, batch),
      steps: K,
      seed: seed * 1000 + stream,
    });
    const out: Sampled = { grads: [], losses: [], rows: names.map(() => 0), maxWeight: 0 };
    for (let k = 0; k < K; k++) {
      const draw = sampler.next(batch, k);
      for (let r = 0; r < batch; r++) {
        out.rows[draw.domain[r]]++;
        out.maxWeight = Math.max(out.maxWeight, draw.weight[r]);
      }
      const b = trainBatch(domains, draw, context, undefined);
      const i = graph.inputs;
      program.write(i.x, b.x);
      program.write(i.labels, b.labels);
      program.write(i.weights, b.weights);
      program.write(i.domains, b.domains);
      program.run();
      out.grads.push(await read(device, grad));
      out.losses.push((await read(device, metrics))[0]);
    }
    return out;
  };

  const t0 = performance.now();
  const runs = [
    { name: `temperature sampling, T = ${T}`, s: await sample(temperature(names, T), 1) },
    { name: `scalarization, T = ${T}`, s: await sample(scalarization(names, T), 2) },
  ];
  const seconds = (performance.now() - t0) / 1000;
  const stats = runs.map((r) => gradientStats(r.s.grads));
  const [t, s] = stats;
  const f = (x: number) => x.toPrecision(4);
  const lines = [
    `Mini-batch gradients at ${
      values.weights ?? `initialisation (seed ${seed})`
    }: ${K} batches of ${batch} ` +
    `x ${context} bytes per strategy, full gradient of all ${
      store.trainable().reduce((a, e) => a + e.size, 0)
    } ` +
    `weights, unclipped (${seconds.toFixed(0)} s).`,
    "",
    "| strategy | mean weighted loss | mean ‖g‖ | Var(‖g‖) | E‖g − ḡ‖² | ‖ḡ‖ | rows per domain | max row weight |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...runs.map((r, k) => {
      const st = stats[k];
      const meanNorm = Math.sqrt(st.mean.reduce((a, x) => a + x * x, 0));
      const loss = r.s.losses.reduce((a, x) => a + x, 0) / K;
      const rows = names.map((d, i) => `${d} ${r.s.rows[i]}`).join(", ");
      return `| ${r.name} | ${f(loss)} | ${f(st.meanNorm)} | ${f(st.normVariance)} | ${
        f(st.traceCovariance)
      } | ` +
        `${f(meanNorm)} | ${rows} | ${f(r.s.maxWeight)} |`;
    }),
  ];
  const reps = 2000;
  const normCi = bootstrapRatio(s.norms, t.norms, variance, reps, seed);
  const mean = (xs: Float64Array) => xs.reduce((a, x) => a + x, 0) / xs.length;
  const devCi = bootstrapRatio(s.deviations, t.deviations, mean, reps, seed + 1);
  let gap = 0;
  for (let j = 0; j < s.mean.length; j++) gap += (s.mean[j] - t.mean[j]) ** 2;
  lines.push(
    "",
    `scalarization / sampling: Var(‖g‖) ratio ${f(s.normVariance / t.normVariance)} ` +
      `(bootstrap 95%: ${f(normCi[0])} to ${f(normCi[1])}); E‖g − ḡ‖² ratio ` +
      `${f(s.traceCovariance / t.traceCovariance)} (${f(devCi[0])} to ${f(devCi[1])}).`,
    `Same expected gradient? ‖ḡ_scal − ḡ_samp‖ = ${f(Math.sqrt(gap))}; the noise of two independent means ` +
      `alone gives about sqrt((E_s + E_t) / K) = ${
        f(Math.sqrt((s.traceCovariance + t.traceCovariance) / K))
      }.`,
  );
  console.log(lines.join("\n"));
  program.destroy();
  grad.destroy();
  metrics.destroy();
  store.destroy();
}

if (import.meta.main) await runScript(() => main(Deno.args));

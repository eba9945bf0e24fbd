/**
 * `packing: isolate` end to end on the GPU: two examples packed into one window give each example the loss and
 * the gradients it has alone in its own padded window (the plain graph, no positions), for GPT-2 (learned
 * positions), Llama (rotary, grouped-query), Qwen2 (tied, qkv biases) and the byte LM (token-lane attention
 * kernels at T = 40); the same window packed without isolation does not.
 */
import assert from "node:assert/strict";
import { gradients } from "../src/graph/grad.ts";
import { Program } from "../src/compile/program.ts";
import { microBatch } from "../src/compile/micro_batches.ts";
import { packBatches } from "../src/compile/packed_step.ts";
import { buildModel, type ModelGraph } from "../src/models/graph.ts";
import type { ModelConfig } from "../src/models/config.ts";
import { parseArch } from "../src/models/pretrained/arch.ts";
import { buildPretrained } from "../src/models/pretrained/graph.ts";
import type { PretrainedLmArch } from "../src/models/pretrained/arch.ts";
import { packExamples, type PackingMode } from "../src/data/packing.ts";
import { IGNORE_LABEL, textBatch } from "../src/data/batch.ts";
import type { TextDomain } from "../src/data/domain.ts";
import { randoms, relError, testDevice } from "./_harness.ts";
import { normRelError } from "./_hf_reference.ts";
import { TINY_GPT2, TINY_LLAMA } from "./fixtures/tiny_checkpoint.ts";

/**
 * Per-example losses and gradients agree to float32 rounding: the weight gradients sum over the window's tokens
 * (15 here, 30 in the two padded windows) in another grouping, a few ulps on each sum, which relError's floor
 * (1e-3 of a tensor's largest value) can raise to ~1e-4 on small entries; the whole tensors (|a - b| / |b|)
 * agree to ~1e-7.
 */
const LOSS_TOL = 1e-6;
const GRAD_TOL = 1e-4;
const GRAD_NORM_TOL = 1e-6;

const TINY_QWEN2 = {
  ...TINY_LLAMA,
  model_type: "qwen2",
  architectures: ["Qwen2ForCausalLM"],
  num_key_value_heads: 1,
  tie_word_embeddings: true,
};

interface Case {
  name: string;
  context: number;
  /** Example lengths; each example's first `prompt` ids are not trained. */
  lengths: [number, number];
  prompt: number;
  build: (batch: number, positions: boolean) => ModelGraph;
}

function pretrainedCase(name: string, config: Record<string, unknown>): Case {
  const arch = parseArch(config, "config.json") as PretrainedLmArch;
  return {
    name,
    context: 15,
    lengths: [5, 8],
    prompt: 2,
    build: (batch, positions) => {
      const g = buildPretrained(arch, {
        batch,
        context: 15,
        domains: 1,
        trainable: () => true,
        ...(positions ? { positions } : {}),
      });
      return { config: {} as ModelConfig, packed: undefined, embedding: undefined, ...g };
    },
  };
}

const byteLm: ModelConfig = { backbone: "lm", context: 40, dim: 16, depth: 2, heads: 2, mlpRatio: 2 };

const CASES: Case[] = [
  pretrainedCase("gpt2", TINY_GPT2),
  pretrainedCase("llama", TINY_LLAMA),
  pretrainedCase("qwen2", TINY_QWEN2),
  {
    name: "byte lm",
    context: 40,
    lengths: [13, 21],
    prompt: 4,
    build: (batch, positions) =>
      buildModel(byteLm, {
        batch,
        domains: 1,
        loss: { kind: "lm" },
        trainable: () => true,
        ...(positions ? { positions } : {}),
      }),
  },
];

/** The two examples of a case laid out by `mode` into one domain (window 0 holds both when packed). */
function domainOf(c: Case, mode: PackingMode): { domain: TextDomain; efficiency: number } {
  const [a, b] = c.lengths;
  const ids = Int32Array.from(randoms(a + b, 11, 1, 255), (v) => Math.floor(v));
  const trained = Uint8Array.from({ length: a + b }, (_, i) => (i < a ? i : i - a) >= c.prompt ? 1 : 0);
  const p = packExamples(
    ids,
    Float64Array.from([0, a, a + b]),
    trained,
    { first: 0, last: 2 },
    c.context,
    mode,
    0,
  );
  const domain: TextDomain = {
    name: "qa",
    kind: "text",
    train: p.ids,
    trainMask: p.trained,
    validation: p.ids,
  };
  if (p.starts) domain.trainStarts = p.starts;
  return { domain, efficiency: p.stats.efficiency };
}

/** Targets of `row` of a batch kept only on [from, to) (the rest IGNORE_LABEL). */
function only(targets: Float32Array, T: number, row: number, from: number, to: number): Float32Array {
  const out = targets.slice(row * T, (row + 1) * T);
  out.forEach((_, t) => {
    if (t < from || t >= to) out[t] = IGNORE_LABEL;
  });
  return out;
}

/** Runs a graph's per-example loss and the gradients of its mean loss for each feed; returns them. */
async function runAll(
  device: GPUDevice,
  graph: ModelGraph,
  weights: Map<string, Float32Array>,
  feeds: { x: Float32Array; labels: Float32Array; weights: Float32Array; positions?: Float32Array }[],
): Promise<{ perExample: Float32Array; grads: Map<string, Float32Array> }[]> {
  const params = [...graph.params.values()];
  const grads = gradients(graph.loss, params);
  const outs = [graph.perExample, ...params.map((p) => grads.get(p)!)];
  const program = await Program.compile(device, outs, { poison: true });
  try {
    for (const p of params) program.write(p, weights.get(p.name)!);
    const results = [];
    for (const f of feeds) {
      const i = graph.inputs;
      program.write(i.x, f.x);
      program.write(i.labels, f.labels);
      program.write(i.weights, f.weights);
      if (i.positions) program.write(i.positions, f.positions!);
      program.run();
      const [perExample, ...gs] = await Promise.all(outs.map((o) => program.read(o)));
      results.push({ perExample, grads: new Map(params.map((p, k) => [p.name, gs[k]])) });
    }
    return results;
  } finally {
    program.destroy();
  }
}

Deno.test("isolated examples packed in one window have the losses and gradients each has alone", async () => {
  const device = await testDevice();
  if (!device) return;
  for (const c of CASES) {
    const T = c.context;
    const [a, b] = c.lengths;
    const packedGraph = c.build(1, true);
    const aloneGraph = c.build(2, false);
    const weights = new Map<string, Float32Array>();
    let seed = 100;
    for (const [name, p] of packedGraph.params) {
      const w = randoms(p.size, seed++, -0.5, 0.5);
      // norm gains near 1, as trained models have them
      if (/(ln_\d|ln_f|norm|ln1|ln2)\.weight$/.test(name)) w.forEach((v, i) => w[i] = 1 + v / 4);
      weights.set(name, w);
    }
    assert.deepEqual([...aloneGraph.params.keys()], [...weights.keys()], c.name);

    const iso = domainOf(c, "isolate");
    const packedBatch = textBatch([iso.domain], {
      domain: Int32Array.of(0),
      index: Int32Array.of(0),
      weight: Float32Array.of(1),
    }, T);
    assert.deepEqual(
      [...packedBatch.positions!].slice(0, a + b),
      [...Array.from({ length: a }, (_, i) => i), ...Array.from({ length: b }, (_, i) => i)],
      `${c.name}: positions`,
    );
    assert.equal(iso.efficiency, (a + b) / (T + 1));
    const alone = domainOf(c, "pad").domain;
    const aloneBatch = textBatch([alone], {
      domain: Int32Array.of(0, 0),
      index: Int32Array.of(0, 1),
      weight: Float32Array.of(1, 1),
    }, T);
    // targets of example A are t in [prompt - 1, a - 1) of its window, B's the same from its start
    const spanA: [number, number] = [c.prompt - 1, a - 1];
    const spanB: [number, number] = [a + c.prompt - 1, a + b - 1];
    const packedFeeds = [spanA, spanB].map(([from, to]) => ({
      x: packedBatch.tokens,
      labels: only(packedBatch.targets, T, 0, from, to),
      weights: Float32Array.of(1),
      positions: packedBatch.positions,
    }));
    // plain positions in the same graph: the window packed without isolation (`pack`)
    const crossing = { ...packedFeeds[1], positions: Float32Array.from({ length: T }, (_, t) => t) };
    const [packedA, packedB, crossed] = await runAll(device, packedGraph, weights, [
      ...packedFeeds,
      crossing,
    ]);
    // alone: row 0 holds A, row 1 B; the mean over 2 rows, so a weight of 2 on the one row counted
    const aloneFeeds = [0, 1].map((row) => ({
      x: aloneBatch.tokens,
      labels: Float32Array.from(
        [0, 1].flatMap((
          r,
        ) => [...(r === row ? only(aloneBatch.targets, T, r, 0, T) : new Float32Array(T).fill(-1))]),
      ),
      weights: Float32Array.from([0, 1], (r) => (r === row ? 2 : 0)),
    }));
    const [aloneA, aloneB] = await runAll(device, aloneGraph, weights, aloneFeeds);

    const pairs = [["A", packedA, aloneA, 0], ["B", packedB, aloneB, 1]] as const;
    for (const [which, packed, single, row] of pairs) {
      const got = packed.perExample[0], want = single.perExample[row];
      assert.ok(Number.isFinite(want) && want > 0, `${c.name} ${which}: loss ${want}`);
      const err = Math.abs(got - want) / want;
      assert.ok(err <= LOSS_TOL, `${c.name} example ${which}: packed ${got} vs alone ${want} (${err})`);
      let worst = 0, worstNorm = 0;
      for (const [name, g] of single.grads) {
        const mine = packed.grads.get(name)!;
        assert.ok(mine.every(Number.isFinite), `${c.name} example ${which}, gradient of ${name}: not finite`);
        const e = relError(mine, g), n = normRelError(mine, g);
        worst = Math.max(worst, e);
        worstNorm = Math.max(worstNorm, n);
        assert.ok(e <= GRAD_TOL, `${c.name} example ${which}, gradient of ${name}: relative error ${e}`);
        assert.ok(n <= GRAD_NORM_TOL, `${c.name} example ${which}, gradient of ${name}: norm error ${n}`);
      }
      console.log(
        `${c.name} example ${which}: loss packed ${got}, alone ${want}; gradients: largest element error ` +
          `${worst.toExponential(2)}, largest norm error ${worstNorm.toExponential(2)}`,
      );
    }
    // without isolation B sees A (and, for GPT-2 and the byte LM, positions after A's)
    const off = Math.abs(crossed.perExample[0] - aloneB.perExample[1]) / aloneB.perExample[1];
    assert.ok(off > 1e-3, `${c.name}: packing without isolation changed B's loss by only ${off}`);
    console.log(
      `${c.name} example B packed without isolation: loss ${crossed.perExample[0]} (${off.toFixed(3)} off)`,
    );
  }
});

Deno.test("micro-batches and packed variants carry positions; a batch without them gets 0..T-1 beside one with", () => {
  const T = 3;
  const batch = (rows: number, positions?: number[]) => ({
    x: new Float32Array(rows * T),
    labels: new Float32Array(rows * T),
    weights: new Float32Array(rows).fill(1),
    domains: new Float32Array(rows),
    ...(positions ? { positions: Float32Array.from(positions) } : {}),
  });
  const isolated = batch(2, [0, 0, 1, 0, 1, 0]);
  assert.deepEqual([...microBatch(isolated, 1, 2).positions!], [0, 1, 0]);
  assert.equal(microBatch(batch(2), 0, 2).positions, undefined);
  assert.deepEqual([...packBatches([isolated, batch(2)]).positions!], [0, 0, 1, 0, 1, 0, 0, 1, 2, 0, 1, 2]);
  assert.equal(packBatches([batch(1), batch(1)]).positions, undefined);
});

import assert from "node:assert/strict";
import { type Draw, Sampler, type SamplerState } from "../src/data/sampler.ts";
import { cooldownSchedule } from "../src/data/mix/schedule.ts";
import { temperatureProbabilities } from "../src/data/mix/temperature.ts";
import type { MixStrategy } from "../src/data/mix/strategy.ts";

const constant = (temperature: number): MixStrategy => ({
  kind: "temperature",
  schedule: { kind: "constant", temperature },
});

function counts(sampler: Sampler, draws: number, batch: number, step = 0): number[] {
  const c = sampler.sizes.map(() => 0);
  for (let done = 0; done < draws; done += batch) {
    for (const d of sampler.next(batch, step).domain) c[d]++;
  }
  return c;
}

Deno.test("Sampler.next() draws domains with frequencies p(i; T) within 4 standard errors", () => {
  // Per domain, count ~ Binomial(N, p): |count - N p| < 4 sqrt(N p (1 - p)) (fails ~6e-5 per check by chance;
  // the seeds are fixed, so the test is deterministic).
  const skews = [[300_000, 50_000, 8_000, 600], [1000, 1000, 1000], [200_000, 100]];
  const n = 100_000;
  for (const sizes of skews) {
    for (const t of [1, 2, 5, 100]) {
      const sampler = new Sampler({ sizes, strategy: constant(t), steps: 1, seed: 11 });
      const c = counts(sampler, n, 1000);
      const p = temperatureProbabilities(sizes, t);
      assert.deepEqual(sampler.probabilitiesAt(0), p);
      p.forEach((pi, i) => {
        const se = Math.sqrt(n * pi * (1 - pi));
        assert.ok(
          Math.abs(c[i] - n * pi) <= 4 * se + 1e-9,
          `sizes ${sizes} T=${t} domain ${i}: ${c[i]} vs ${n * pi}`,
        );
      });
    }
  }
});

Deno.test("Sampler.next() under scalarization draws proportionally and weights rows by p(i; T) / p(i; 1)", () => {
  const sizes = [90_000, 9_000, 1_000];
  const sampler = new Sampler({
    sizes,
    strategy: { kind: "scalarization", schedule: { kind: "constant", temperature: 5 } },
    steps: 1,
    seed: 3,
  });
  const p1 = temperatureProbabilities(sizes, 1);
  const p5 = temperatureProbabilities(sizes, 5);
  const n = 50_000;
  const c = sizes.map(() => 0);
  for (let k = 0; k < n / 500; k++) {
    const draw = sampler.next(500, 0);
    draw.domain.forEach((d, row) => {
      c[d]++;
      assert.equal(draw.weight[row], Math.fround(p5[d] / p1[d]));
    });
  }
  p1.forEach((pi, i) => assert.ok(Math.abs(c[i] - n * pi) <= 4 * Math.sqrt(n * pi * (1 - pi))));
});

Deno.test("Sampler.next() walks each domain's examples in a fresh permutation every epoch", () => {
  const sampler = new Sampler({ sizes: [5, 3], strategy: constant(1), steps: 1, seed: 1 });
  const seen: number[][] = [[], []];
  for (let k = 0; k < 40; k++) {
    const draw = sampler.next(4, 0);
    draw.domain.forEach((d, row) => seen[d].push(draw.index[row]));
  }
  seen.forEach((indices, d) => {
    const n = [5, 3][d];
    const epochs: string[] = [];
    for (let e = 0; e + n <= indices.length; e += n) {
      const epoch = indices.slice(e, e + n);
      assert.deepEqual([...epoch].sort(), Array.from({ length: n }, (_, i) => i));
      epochs.push(epoch.join(","));
    }
    assert.ok(new Set(epochs).size > 1, "epochs are reshuffled");
  });
  assert.deepEqual(sampler.epochs(), [seen[0].length / 5, seen[1].length / 3]);
  assert.equal(sampler.drawn().reduce((a, b) => a + b), 160);
});

Deno.test("Sampler.restore() mid-schedule continues the identical sequence", () => {
  const options = {
    sizes: [40_000, 700, 90],
    strategy: { kind: "temperature", schedule: cooldownSchedule() },
    steps: 100,
    seed: 5,
  } as const;
  const full = new Sampler(structuredClone(options) as never);
  const reference: Draw[] = [];
  for (let s = 0; s < 100; s++) reference.push(full.next(16, s));
  const first = new Sampler(structuredClone(options) as never);
  for (let s = 0; s < 37; s++) assert.deepEqual(first.next(16, s), reference[s]);
  const saved: SamplerState = JSON.parse(JSON.stringify(first.state()));
  const resumed = Sampler.restore(saved);
  for (let s = 37; s < 100; s++) assert.deepEqual(resumed.next(16, s), reference[s]);
  assert.deepEqual(resumed.state(), full.state());
});

Deno.test("Sampler.probabilitiesAt() follows Cooldown: T = 5 before step 50 of 100, T = 1 from it", () => {
  const sizes = [40_000, 700, 90];
  const sampler = new Sampler({
    sizes,
    strategy: { kind: "temperature", schedule: cooldownSchedule() },
    steps: 100,
    seed: 0,
  });
  assert.deepEqual(sampler.probabilitiesAt(49), temperatureProbabilities(sizes, 5));
  assert.deepEqual(sampler.probabilitiesAt(50), temperatureProbabilities(sizes, 1));
  assert.equal(sampler.temperatureAt(49), 5);
  assert.equal(sampler.temperatureAt(50), 1);
});

Deno.test("Sampler.expectedEpochs() sums batch * p_i(step) / n_i over steps", () => {
  const sizes = [40_000, 700, 90];
  const sampler = new Sampler({
    sizes,
    strategy: { kind: "temperature", schedule: cooldownSchedule() },
    steps: 100,
    seed: 0,
  });
  const p5 = temperatureProbabilities(sizes, 5);
  const p1 = temperatureProbabilities(sizes, 1);
  const expected = sizes.map((n, i) => (50 * 8 * p5[i] + 50 * 8 * p1[i]) / n);
  sampler.expectedEpochs(100, 8).forEach((e, i) => assert.ok(Math.abs(e - expected[i]) < 1e-9 * expected[i]));
  const uni = new Sampler({
    sizes: [1000, 10, 5000, 100],
    strategy: { kind: "unimax", budget: 4000, epochs: 4 },
    steps: 100,
    seed: 0,
  });
  // 100 steps x batch 40 = the budget of 4000: the capped domains get exactly 4 epochs.
  const e = uni.expectedEpochs(100, 40);
  assert.ok(Math.abs(e[1] - 4) < 1e-9 && Math.abs(e[3] - 4) < 1e-9);
});

Deno.test("Sampler never draws a domain of weight 0", () => {
  const sampler = new Sampler({
    sizes: [10, 10, 10],
    strategy: { kind: "weights", weights: [0.5, 0, 0.5] },
    steps: 1,
    seed: 2,
  });
  assert.equal(counts(sampler, 5000, 500)[1], 0);
});

Deno.test("Sampler rejects invalid settings and states with exact messages", () => {
  const ok = { sizes: [10, 20], strategy: constant(1), steps: 10, seed: 0 };
  const cases: [() => unknown, string][] = [
    [
      () => new Sampler({ ...ok, strategy: constant(0) }),
      "schedule temperature must be a positive finite number, found 0",
    ],
    [
      () => new Sampler({ ...ok, sizes: [10, 0] }),
      "sizes must be positive integers (examples per domain), found 0 at index 1",
    ],
    [() => new Sampler({ ...ok, steps: 0 }), "steps must be a positive integer, found 0"],
    [() => new Sampler(ok).next(0, 0), "batch must be a positive integer, found 0"],
    [() => new Sampler(ok).next(4, 10), "step must be an integer in [0, 10), found 10"],
    [
      () => Sampler.restore({ ...new Sampler(ok).state(), version: 2 } as never),
      "sampler state version must be 1, found 2",
    ],
    [
      () => Sampler.restore({ ...new Sampler(ok).state(), drawn: [1] }),
      'sampler state "drawn" must be 2 non-negative integers, found [1]',
    ],
    [
      () => Sampler.restore({ ...new Sampler(ok).state(), rng: [0, 0, 0, 0] }),
      'sampler state "rng" is invalid: rng state must be four unsigned 32-bit integers, not all zero; found [0,0,0,0]',
    ],
    [
      () => new Sampler(ok).expectedEpochs(11, 4),
      "expectedEpochs steps must be an integer in [0, 10], found 11",
    ],
  ];
  for (const [fn, message] of cases) assert.throws(fn, { name: "MixError", message });
});

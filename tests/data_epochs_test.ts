import assert from "node:assert/strict";
import { Sampler } from "../src/data/sampler.ts";
import type { MixStrategy } from "../src/data/mix/strategy.ts";

/** The step-by-step sum the closed form replaces: sum over steps of batch * p_i(step) / n_i. */
function stepByStep(sampler: Sampler, steps: number, batch: number): number[] {
  const total = sampler.sizes.map(() => 0);
  for (let s = 0; s < steps; s++) sampler.probabilitiesAt(s).forEach((p, i) => total[i] += p);
  return total.map((p, i) => (p * batch) / sampler.sizes[i]);
}

const STRATEGIES: [string, MixStrategy][] = [
  ["constant", { kind: "temperature", schedule: { kind: "constant", temperature: 3 } }],
  ["cooldown", {
    kind: "temperature",
    schedule: { kind: "step", phases: [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }] },
  }],
  // phases that round to the same step, and a phase cut short by the steps asked for
  ["three phases", {
    kind: "scalarization",
    schedule: {
      kind: "step",
      phases: [{ until: 0.01, temperature: 9 }, { until: 0.3, temperature: 2 }, {
        until: 1,
        temperature: 0.5,
      }],
    },
  }],
  ["linear", { kind: "temperature", schedule: { kind: "linear", from: 5, to: 1 } }],
  ["cosine", { kind: "temperature", schedule: { kind: "cosine", from: 0.5, to: 4 } }],
  ["weights", { kind: "weights", weights: [0.2, 0.5, 0.3] }],
  ["unimax", { kind: "unimax", budget: 7 * 37, epochs: 2 }],
];

Deno.test("Sampler.expectedEpochs() in closed form equals the step-by-step sum on small stages", () => {
  const sizes = [40_000, 700, 90];
  for (const [name, strategy] of STRATEGIES) {
    for (const steps of [1, 2, 7, 37, 100]) {
      const sampler = new Sampler({ sizes, strategy, steps, seed: 1 });
      for (const upTo of [0, 1, Math.floor(steps / 2), steps]) {
        const got = sampler.expectedEpochs(upTo, 7);
        const want = stepByStep(sampler, upTo, 7);
        got.forEach((g, i) => {
          // summing n equal terms vs one product differ by rounding only: 1e-12 relative
          assert.ok(
            Math.abs(g - want[i]) <= 1e-12 * Math.max(want[i], 1e-300),
            `${name}, steps ${steps}, first ${upTo}, domain ${i}: ${g} vs ${want[i]}`,
          );
        });
      }
    }
  }
});

Deno.test("Sampler.expectedEpochs() plans 1e12 steps at once, and a long linear stage within 1e-8", () => {
  const sizes = [40_000, 700, 90];
  const started = performance.now();
  for (const [, strategy] of STRATEGIES.filter(([n]) => n !== "unimax")) {
    const sampler = new Sampler({ sizes, strategy, steps: 1e12, seed: 1 });
    const e = sampler.expectedEpochs(1e12, 8);
    assert.ok(e.every((x) => Number.isFinite(x) && x > 0), `${e}`);
  }
  assert.ok(performance.now() - started < 2000, `${performance.now() - started} ms`);
  // 200,000 steps: past the exact sum's 65,536; compare with the exact sum
  const linear = new Sampler({ sizes, strategy: STRATEGIES[3][1], steps: 200_000, seed: 1 });
  const got = linear.expectedEpochs(200_000, 8);
  stepByStep(linear, 200_000, 8).forEach((w, i) =>
    assert.ok(Math.abs(got[i] - w) <= 1e-8 * w, `${got[i]} vs ${w}`)
  );
});

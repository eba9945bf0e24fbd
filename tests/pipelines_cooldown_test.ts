import assert from "node:assert/strict";
import { cooldownTables, meanStd, methodName, readRun, RunReadError } from "../pipelines/cooldown_table.ts";
import { bootstrapRatio, gradientStats } from "../pipelines/cooldown_variance.ts";

Deno.test("methodName() names each mixing method from its spec", () => {
  assert.equal(
    methodName({ strategy: "temperature", temperature: { kind: "constant", temperature: 5 } }),
    "T = 5",
  );
  assert.equal(methodName({ strategy: "temperature" }), "T = 1");
  assert.equal(
    methodName({ strategy: "scalarization", temperature: { kind: "constant", temperature: 5 } }),
    "scalarization T = 5",
  );
  assert.equal(methodName({ strategy: "unimax", epochCap: 4 }), "UniMax (cap 4)");
  const phases = [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }];
  assert.equal(
    methodName({ strategy: "temperature", temperature: { kind: "step", phases } }),
    "Cooldown (T = 5 then T = 1 from 0.5)",
  );
});

Deno.test("meanStd() gives the sample standard deviation", () => {
  const { mean, std } = meanStd([1, 2, 3, 4]);
  assert.equal(mean, 2.5);
  assert.ok(Math.abs(std - Math.sqrt(5 / 3)) < 1e-12, `std ${std}`);
  assert.deepEqual(meanStd([7]), { mean: 7, std: 0 });
});

const SIZES = { big: 100, mid: 50, small: 5 };

async function writeRun(
  root: string,
  seed: number,
  finals: Record<string, Record<string, number>>,
): Promise<void> {
  const mixes: Record<string, unknown> = {
    t1: { strategy: "temperature", temperature: { kind: "constant", temperature: 1 } },
    cd: {
      strategy: "temperature",
      temperature: { kind: "step", phases: [{ until: 0.5, temperature: 5 }, { until: 1, temperature: 1 }] },
    },
  };
  const stages = Object.keys(finals).map((name) => ({ name, kind: "train", dir: `${name}-0` }));
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(`${root}/run.json`, JSON.stringify({ seed, stages }));
  for (const [name, final] of Object.entries(finals)) {
    const dir = `${root}/${name}-0`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify({ spec: { mix: mixes[name], steps: 20 } }));
    const half = Object.fromEntries(Object.entries(final).map(([d, v]) => [d, v - 0.5]));
    const lines = [
      { type: "train", step: 10, domainLoss: { big: 9 } },
      { type: "eval", step: 10, validationLoss: half },
      { type: "train", step: 20, domainLoss: { big: 1, small: 2 } },
      { type: "eval", step: 20, validationLoss: final },
    ];
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, lines.map((l) => JSON.stringify(l) + "\n").join(""));
    const rows = Object.entries(SIZES).map(([d, n]) => [d, n, 0, final[d]]);
    const metrics = Object.fromEntries(Object.entries(final).map(([d, v]) => [`validation_loss/${d}`, v]));
    await Deno.writeTextFile(`${dir}/summary.json`, JSON.stringify({ metrics, tables: [{ rows }] }));
  }
}

Deno.test("cooldownTables() averages seeds per language, group and curve step", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await writeRun(`${tmp}/s1`, 1, {
      t1: { big: 2.0, mid: 3.0, small: 5.0 },
      cd: { big: 2.1, mid: 2.9, small: 4.0 },
    });
    await writeRun(`${tmp}/s2`, 2, {
      t1: { big: 2.2, mid: 3.0, small: 4.0 },
      cd: { big: 2.1, mid: 3.1, small: 4.0 },
    });
    const runs = [await readRun(`${tmp}/s1`), await readRun(`${tmp}/s2`)];
    assert.deepEqual(runs[0][0].lateTrain, { big: 1, small: 2 });
    const lines = cooldownTables(runs).split("\n");
    assert.ok(lines[0].includes("high-resource = big, mid, low-resource = small"), lines[0]);
    assert.ok(
      lines.includes(
        "| T = 1 | 2 | 2.100 ± 0.141 | 3.000 ± 0.000 | 4.500 ± 0.707 | 2.550 ± 0.071 | 4.500 ± 0.707 |",
      ),
    );
    assert.ok(
      lines.includes(
        "| Cooldown (T = 5 then T = 1 from 0.5) | 2 | 2.100 ± 0.000 | 3.000 ± 0.141 | 4.000 ± 0.000 | 2.550 ± 0.071 | 4.000 ± 0.000 |",
      ),
    );
    // the curve of the smallest language: step 10 is 0.5 below the final loss
    assert.ok(lines.includes("| 10 | 4.000 | 3.500 |"), lines.join("\n"));
    assert.ok(lines.includes("| T = 1 | 4.000 ± 0.707 | 10 | 0.500 ± 0.000 | 2.000 ± 0.000 |"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("readRun() says what it expected when run.json is missing", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await assert.rejects(() => readRun(tmp), (e: Error) => {
      assert.ok(e instanceof RunReadError);
      assert.equal(
        e.message,
        `${tmp}/run.json not found: expected a run folder such as runs/cooldown-seed1/cooldown`,
      );
      return true;
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("gradientStats() gives norm variance and the trace of the covariance", () => {
  const s = gradientStats([Float32Array.of(3, 4), Float32Array.of(0, 0), Float32Array.of(6, 8)]);
  assert.deepEqual([...s.norms], [5, 0, 10]);
  assert.equal(s.meanNorm, 5);
  assert.equal(s.normVariance, 25);
  assert.deepEqual([...s.mean], [3, 4]);
  assert.deepEqual([...s.deviations], [0, 25, 25]);
  assert.equal(s.traceCovariance, 25);
  assert.throws(() => gradientStats([Float32Array.of(1)]), {
    message: "gradient statistics need at least 2 batches, found 1",
  });
});

Deno.test("bootstrapRatio() brackets the ratio of a statistic", () => {
  const mean = (xs: Float64Array) => xs.reduce((a, x) => a + x, 0) / xs.length;
  assert.deepEqual(bootstrapRatio(new Float64Array(5).fill(6), new Float64Array(7).fill(3), mean, 50, 1), [
    2,
    2,
  ]);
  const [lo, hi] = bootstrapRatio(Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 2, 3, 4), mean, 500, 1);
  assert.ok(lo < 1 && hi > 1, `${lo} to ${hi}`);
});

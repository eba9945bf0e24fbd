import assert from "node:assert/strict";
import {
  meanStd,
  modelName,
  pctCell,
  petalfaceTables,
  readRun,
  RunReadError,
} from "../pipelines/petalface_table.ts";

Deno.test("modelName() names each variant from its train stage's spec", () => {
  assert.equal(modelName({ kind: "train", trainable: ["*"] }), "pretrained, no fine-tuning");
  assert.equal(modelName({ kind: "train", from: "pretrain", trainable: ["*"] }), "full fine-tuning");
  assert.equal(
    modelName({ kind: "train", from: "pretrain", adapters: [{}], trainable: ["head"] }),
    "one LoRA",
  );
  assert.equal(
    modelName({ kind: "train", from: "pretrain", adapters: [{ gated: true }] }),
    "two gated LoRAs (PETALface)",
  );
  assert.equal(modelName({ kind: "train", from: "pretrain", trainable: ["head"] }), "fine-tuning head");
});

Deno.test("meanStd() and pctCell() give the sample std in percent", () => {
  const { mean, std } = meanStd([1, 2, 3, 4]);
  assert.equal(mean, 2.5);
  assert.ok(Math.abs(std - Math.sqrt(5 / 3)) < 1e-12, `std ${std}`);
  assert.equal(pctCell([0.5, 0.7]), "60.0 ± 14.1");
  assert.equal(pctCell([0.25]), "25.0");
  assert.equal(pctCell([null, undefined]), "-");
});

const metrics = (r1: number, tar: number) => ({
  "rank1/old_hr": r1,
  "tar@1e-2/old_hr": tar,
  "tar@1e-3/old_hr": tar / 2,
});

async function writeRun(root: string, seed: number, r1: number): Promise<void> {
  const stages = [
    { name: "pretrain", kind: "train", dir: "pretrain-a" },
    { name: "ft", kind: "train", dir: "ft-b" },
    { name: "eval_pretrain", kind: "evaluate", dir: "eval_pretrain-c" },
    { name: "eval_ft", kind: "evaluate", dir: "eval_ft-d" },
    { name: "export_ft", kind: "export", dir: "export_ft-e" },
  ];
  for (const s of stages) await Deno.mkdir(`${root}/${s.dir}`, { recursive: true });
  const plan = {
    stages: [
      { name: "pretrain", params: { total: 1000, trainable: 1000 } },
      { name: "ft", params: { total: 1100, trainable: 110 } },
    ],
  };
  const json = (path: string, value: unknown) => Deno.writeTextFile(`${root}/${path}`, JSON.stringify(value));
  await json("run.json", { seed, stages, plan });
  await json("pretrain-a/spec.json", { spec: { kind: "train", trainable: ["*"] } });
  await json("ft-b/spec.json", { spec: { kind: "train", from: "pretrain", adapters: [{ gated: true }] } });
  const gate = { type: "gate", step: 0, histogram: { lr: { edges: [0, 0.5, 1], counts: [7, 0] } } };
  await Deno.writeTextFile(`${root}/ft-b/metrics.jsonl`, JSON.stringify(gate) + "\n");
  await json("ft-b/summary.json", { qualityScale: { low: 0.001, high: 0.3 } });
  await json("eval_pretrain-c/summary.json", { from: "pretrain", metrics: metrics(0.9, 0.5) });
  await json("eval_ft-d/summary.json", { from: "ft", metrics: metrics(r1, 0.6) });
  await json("export_ft-e/summary.json", { parity: { images: 64, maxRelError: 3e-7, maxAbsError: 7e-7 } });
}

Deno.test("readRun() and petalfaceTables() tabulate models, gate histograms and parity over seeds", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await writeRun(`${dir}/s1`, 1, 0.8);
    await writeRun(`${dir}/s2`, 2, 0.6);
    const runs = [await readRun(`${dir}/s1`), await readRun(`${dir}/s2`)];
    assert.equal(runs[0].models.length, 2);
    const md = petalfaceTables(runs).split("\n");
    assert.ok(
      md.includes("| pretrained, no fine-tuning | 100.00% (1,000) | 90.0 ± 0.0 | 50.0 ± 0.0 |"),
      md.join("\n"),
    );
    assert.ok(
      md.includes("| two gated LoRAs (PETALface) | 10.00% (110) | 70.0 ± 14.1 | 60.0 ± 0.0 |"),
      md.join("\n"),
    );
    assert.ok(
      md.includes("| two gated LoRAs (PETALface) | 10.00% (110) | 70.0 ± 14.1 | 30.0 ± 0.0 |"),
      md.join("\n"),
    );
    assert.ok(md.includes("| 2 | ft | lr | 7 | 0 |"), md.join("\n"));
    assert.ok(
      md.includes("- seed 1, export_ft: max relative error 3.00e-7, max absolute 7.00e-7 over 64 images"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readRun() names a missing run.json", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(() => readRun(dir), (e: Error) => {
      assert.ok(e instanceof RunReadError);
      assert.match(e.message, new RegExp(`^${dir}/run\\.json: cannot be read \\(`));
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The README's PETALface table, read from the sweep's results: per model, the share of weights it trains
 * (from the pipeline's plan) and, per recognition set, rank-1 and TAR at FAR = 1e-2 in % (mean ± std over
 * seeds); then the largest ONNX-against-WebGPU error of the export stages.
 *
 * `deno task sweep pipelines/petalface.ts && deno run --allow-read pipelines/petalface_table.ts [SWEEP_DIR]`
 * (default runs/petalface).
 *
 * @module
 */
import { runScript } from "../src/cli/script.ts";
import { join } from "node:path";
import { planPipeline } from "../mod.ts";
import { pivotTable, readSweepResults } from "../src/sweep/markdown.ts";
import spec from "./petalface.ts";

const models = [
  { stage: "eval_pretrain", train: "pretrain", title: "pretrained, no fine-tuning" },
  { stage: "eval_full", train: "full", title: "full fine-tuning" },
  { stage: "eval_lora", train: "lora", title: "one LoRA" },
  { stage: "eval_petalface", train: "petalface", title: "two gated LoRAs (PETALface)" },
];
const sets = [["old_hr", "old ids, HR probes"], ["new_lr", "new ids, LR probes"], [
  "new_mixed",
  "new ids, mixed",
]];

if (import.meta.main) {
  await runScript(async () => {
    const dir = Deno.args[0] ?? "runs/petalface";
    const results = await readSweepResults(join(dir, "sweep.json"));
    if (results.incomplete.length > 0) {
      throw new Error(`incomplete variants: ${results.incomplete.join(", ")}`);
    }
    const plan = await planPipeline(spec.build());
    const share = (train: string): string => {
      const p = plan.stages.find((s) => s.name === train)!.params!;
      return train === "pretrain" ? "-" : `${(100 * p.share).toFixed(1)}%`;
    };
    console.log(pivotTable(results, {
      rowTitle: "model (share of weights trained)",
      stages: models.map((m) => ({ stage: m.stage, title: `${m.title} (${share(m.train)})` })),
      columns: sets.flatMap(([set, title]) => [
        { title: `${title} R1`, metric: `rank1/${set}` },
        { title: "TAR", metric: `tar@1e-2/${set}` },
      ]),
      scale: 100,
      digits: 1,
    }));
    const sweep = JSON.parse(await Deno.readTextFile(join(dir, "sweep.json"))) as {
      stageRuns: { id: string; kind: string }[];
    };
    const parity = await Promise.all(
      sweep.stageRuns.filter((r) => r.kind === "export").map(async (r) =>
        (JSON.parse(await Deno.readTextFile(join(dir, r.id, "summary.json"))) as {
          parity: { images: number; maxRelError: number };
        }).parity
      ),
    );
    const rel = parity.map((p) => p.maxRelError);
    console.log(
      `\nONNX (onnxruntime CPU) against WebGPU, ${parity.length} exports of ${
        parity[0]?.images
      } images each: ` +
        `largest relative error ${Math.min(...rel).toExponential(1)} to ${Math.max(...rel).toExponential(1)}`,
    );
  });
}

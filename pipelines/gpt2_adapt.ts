/**
 * The GPT-2 that pipelines/gpt2_pretrain.ts wrote in the Hugging Face layout, read back with `pretrained()`
 * and adapted with LoRA on `c_attn` toward Vietnamese, which pretraining never saw; perplexity per language
 * before and after, and a few generated words with and without the adapter.
 *
 * `XDG_RUNTIME_DIR=/tmp deno run -A pipelines/gpt2_adapt.ts [--out runs] [--steps N]` (after gpt2_pretrain.ts,
 * with the same flags)
 *
 * The mix is a Cooldown toward vi: T = 100 for the first half (the five languages nearly uniform, so vi,
 * by far the smallest word list, gets about a fifth of the windows), then T = 5 so that the large
 * languages come back. LoRA rank 8 (alpha = r) on both blocks' c_attn: 2 x 8 x (64 + 192) = 4,096 trained
 * weights, 3.5% of the 118,528 frozen ones. 200 steps x 32 windows x 32 ids: the forward and
 * backward pass still run through the whole model, about half the pretraining's time.
 *
 * "before" is the pretraining pipeline's evaluate stage (reused from its run folder): the Hugging Face
 * checkpoint holds exactly those weights, and the same domains and seed give the same validation words.
 *
 * @module
 */
import {
  adamw,
  cooldown,
  dictionary,
  evaluate,
  lmLoss,
  lora,
  pipeline,
  pretrained,
  runScript,
  split,
  stageOf,
  temperature,
  train,
} from "../mod.ts";
import { main as generate } from "../src/cli/generate.ts";
import { consoleLogger } from "../src/run/log.ts";
import { exists } from "../src/files.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { HIGH, LOW, pretrainPipeline, scriptArgs, SEED, shortened } from "./gpt2_pretrain.ts";

/** The adaptation pipeline over the Hugging Face checkpoint folder `hf`. */
export function adaptPipeline(hf: string) {
  return pipeline("gpt2_adapt")
    .seed(SEED)
    .domain("fr", dictionary("fr"), split(0.05))
    .domain("es", dictionary("es"), split(0.05))
    .domain("it", dictionary("it"), split(0.05))
    .domain("de", dictionary("de"), split(0.05))
    .domain("vi", dictionary("vi"), split(0.05))
    .model(pretrained(hf, { context: 32 }))
    .stage(
      "adapt",
      train({
        mix: temperature([...HIGH, LOW], cooldown(100, 5, 0.5)),
        adapters: [lora("transformer.h.*.attn.c_attn", { rank: 8 })],
        loss: lmLoss(),
        optimizer: adamw({ lr: 3e-3 }),
        steps: 200,
        batch: 32,
        evalEvery: 100,
      }),
    )
    .stage("after", evaluate({ from: "adapt", tasks: ["validation_loss", "perplexity"] }))
    .build();
}

if (import.meta.main) {
  await runScript(async () => {
    const { out, steps } = scriptArgs(Deno.args);
    const root = `${out}/gpt2`;
    const log = consoleLogger();
    if (!(await exists(`${root}/hf/config.json`))) {
      throw new Error(
        `${root}/hf/config.json not found: run pipelines/gpt2_pretrain.ts first (same --out, --steps)`,
      );
    }
    const before = await runPipeline(shortened(pretrainPipeline(`${root}/init`), steps), { out, log });
    if (!before.stages.every((s) => s.cached)) {
      throw new Error(
        `${before.root} was not reused: run pipelines/gpt2_pretrain.ts first, with the same --out and --steps`,
      );
    }
    const after = await runPipeline(shortened(adaptPipeline(`${root}/hf`), steps), { out, log });
    const [b, a] = [before, after].map((r, i) =>
      stageOf(r, i === 0 ? "before" : "after").summary.metrics as Record<string, number>
    );
    console.log("| perplexity (per byte)    | " + [...HIGH, LOW].join(" | ") + " |");
    console.log("| --- | " + [...HIGH, LOW].map(() => "---:").join(" | ") + " |");
    for (const [name, m] of [["pretrained (HF checkpoint)", b], ["+ LoRA on c_attn", a]] as const) {
      console.log(
        `| ${name} | ` + [...HIGH, LOW].map((l) => m[`perplexity/${l}`].toFixed(3)).join(" | ") + " |",
      );
    }
    const adapter = `${stageOf(after, "adapt").path}/adapter`;
    for (const prompt of ["ng", "tr"]) {
      for (const extra of [[], ["--adapter", adapter]]) {
        const args = [`${root}/hf`, ...extra, "--prompt", prompt, "--max-new", "24", "--temperature", "0.8"];
        args.push("--seed", "1");
        console.log(`deno task generate ${args.join(" ")}`);
        const code = await generate(args);
        if (code !== 0) return code;
      }
    }
    return 0;
  });
}

/**
 * A small GPT-2-layout LM pretrained by mixtune from random weights on four languages' word lists, then
 * written out in the Hugging Face layout for pipelines/gpt2_adapt.ts.
 *
 * `XDG_RUNTIME_DIR=/tmp deno run -A pipelines/gpt2_pretrain.ts [--out runs] [--steps N]` (`--steps`: a
 * quick try with N steps; gpt2_adapt.ts must then get the same `--steps`)
 *
 * 1. `runs/gpt2/init`: a GPT-2 `config.json` and `model.safetensors` with GPT-2's initialisation: N(0, 0.02)
 *    weights, the residual projections (`c_proj`) N(0, 0.02 / sqrt(2 n_layer)), LayerNorms 1 and 0, biases 0.
 * 2. The pipeline below reads it with `pretrained()` and, with no adapters, trains every weight, then
 *    measures perplexity per language (the "before" column of gpt2_adapt.ts: it reads the same domains
 *    with the same seed, so the same validation words).
 * 3. The trained stage is merged (no LoRA to fold) and written to `runs/gpt2/hf` in GPT-2's own layout
 *    (tensor names `transformer.h.N...`, Conv1D weights [in, out], the config.json of step 1).
 *
 * Sizes: n_embd 64, 2 blocks of 4 heads, 32 positions, 256 byte ids: wte 16,384 + wpe 2,048 + per block
 * (LayerNorms 256 + c_attn 12,480 + attn.c_proj 4,160 + c_fc 16,640 + mlp.c_proj 16,448 = 49,984) x 2 +
 * ln_f 128 = 118,528 weights. 250 steps x 32 windows x 32 ids = 256,000 ids, about 6 x 118,528 x 256,000
 * = 0.18 TFLOP of matmuls plus attention; at the 70 windows/s measured here (a loaded 2-core machine)
 * 8,000 windows take about 2 minutes.
 *
 * vi is held out of pretraining (its 1,183 words would be seen rarely anyway at T = 1): it is the
 * low-resource language gpt2_adapt.ts adapts toward.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  adamw,
  dictionary,
  evaluate,
  lmLoss,
  pipeline,
  type PipelineSpec,
  pretrained,
  runScript,
  ScriptUsageError,
  split,
  stageOf,
  temperature,
  train,
  validatePipeline,
} from "../mod.ts";
import { withSteps } from "../src/cli/load.ts";
import { writeHfCheckpoint } from "../src/export/hf_layout.ts";
import { mergeStage } from "../src/export/merge_stage.ts";
import { normalArray, seedFor } from "../src/models/init.ts";
import { writePretrained } from "../src/models/pretrained/write.ts";
import { checkpointTensors } from "../src/models/pretrained/tensors.ts";
import { parseArch } from "../src/models/pretrained/arch.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { PretrainedError } from "../src/models/pretrained/errors.ts";
import { consoleLogger } from "../src/run/log.ts";
import { runPipeline } from "../src/run/pipeline.ts";

/** The pipelines' seed: it decides the shuffled word lists and so the validation words. */
export const SEED = 1;
/** Languages the model is pretrained on, and the low-resource one adapted toward. */
export const HIGH = ["fr", "es", "it", "de"] as const;
export const LOW = "vi";

/** GPT-2's config.json for the model above. */
export const CONFIG: Record<string, unknown> = {
  model_type: "gpt2",
  architectures: ["GPT2LMHeadModel"],
  vocab_size: 256,
  n_positions: 32,
  n_embd: 64,
  n_layer: 2,
  n_head: 4,
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
};

/**
 * Writes the randomly initialised checkpoint folder (step 1), unless it already holds exactly these weights:
 * a rewritten file would change the stage's cache key and retrain it.
 */
export async function writeInitialCheckpoint(dir: string, seed = SEED): Promise<void> {
  const weights = initialWeights(seed);
  if (holds(dir, weights)) return;
  await writePretrained(dir, CONFIG, weights);
}

function holds(dir: string, weights: Map<string, Float32Array>): boolean {
  let current;
  try {
    current = readPretrained(dir);
  } catch (e) {
    if (e instanceof PretrainedError) return false;
    throw e;
  }
  if (JSON.stringify(current.config) !== JSON.stringify(CONFIG)) return false;
  return [...weights].every(([name, w]) => {
    const c = current.weights.get(name);
    return c !== undefined && c.length === w.length && c.every((v, i) => v === w[i]);
  });
}

/** GPT-2's initialisation, in mixtune's layout (writePretrained transposes the Conv1D weights). */
function initialWeights(seed: number): Map<string, Float32Array> {
  const arch = parseArch(CONFIG, "config.json");
  const weights = new Map<string, Float32Array>();
  for (const t of checkpointTensors(arch)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const name = t.name;
    if (/\.(ln_\d|ln_f)\.weight$/.test(name)) weights.set(name, new Float32Array(n).fill(1));
    else if (name.endsWith(".bias")) weights.set(name, new Float32Array(n));
    else {
      const std = name.endsWith("c_proj.weight") ? 0.02 / Math.sqrt(2 * arch.depth) : 0.02;
      weights.set(name, normalArray(n, std, seedFor(seed, name)));
    }
  }
  return weights;
}

/** The pretraining pipeline over the checkpoint folder `init`. */
export function pretrainPipeline(init: string) {
  return pipeline("gpt2_pretrain")
    .seed(SEED)
    .domain("fr", dictionary("fr"), split(0.05))
    .domain("es", dictionary("es"), split(0.05))
    .domain("it", dictionary("it"), split(0.05))
    .domain("de", dictionary("de"), split(0.05))
    .domain("vi", dictionary("vi"), split(0.05))
    .model(pretrained(init, { context: 32 }))
    .stage(
      "pretrain",
      train({
        mix: temperature([...HIGH]),
        loss: lmLoss(),
        optimizer: adamw({ lr: 3e-3, warmup: 20 }),
        steps: 250,
        batch: 32,
        evalEvery: 125,
      }),
    )
    .stage("before", evaluate({ from: "pretrain", tasks: ["validation_loss", "perplexity"] }))
    .build();
}

/** The scripts' flags: `--out DIR` (default runs) and `--steps N` (every train stage's steps, for a quick try). */
export function scriptArgs(args: string[]): { out: string; steps?: number } {
  const { values } = parseArgs({
    args,
    options: { out: { type: "string", default: "runs" }, steps: { type: "string" } },
  });
  if (values.steps === undefined) return { out: values.out! };
  const steps = Number(values.steps);
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new ScriptUsageError(
      `--steps: expected a whole number of at least 1, found ${JSON.stringify(values.steps)}`,
    );
  }
  return { out: values.out!, steps };
}

/** `spec` with every train stage cut to `steps` (as `deno task pipeline --steps`), or as it is. */
export function shortened(spec: PipelineSpec, steps: number | undefined): PipelineSpec {
  return steps === undefined ? spec : validatePipeline(withSteps(spec, steps));
}

if (import.meta.main) {
  await runScript(async () => {
    const { out, steps } = scriptArgs(Deno.args);
    const root = `${out}/gpt2`;
    await writeInitialCheckpoint(`${root}/init`);
    const result = await runPipeline(shortened(pretrainPipeline(`${root}/init`), steps), {
      out,
      log: consoleLogger(),
    });
    const stage = stageOf(result, "pretrain");
    const merged = await mergeStage(stage.path);
    await writeHfCheckpoint(`${root}/hf`, merged.config, merged.tensors);
    const ppl = stageOf(result, "before").summary.metrics as Record<string, number>;
    console.log(`${root}/hf written (Hugging Face GPT-2 layout) from ${stage.path}`);
    for (const l of [...HIGH, LOW]) console.log(`perplexity ${l}: ${ppl[`perplexity/${l}`].toFixed(3)}`);
  });
}

/**
 * Instruction tuning on a mix of tasks of very different sizes: the Cooldown question of "Upsample or
 * Upweight?" (NAACL 2025) asked of chat data, scored by exact match.
 *
 * `XDG_RUNTIME_DIR=/tmp deno run -A pipelines/sft_mix_data.ts` first writes `runs/sft_mix_data/` (see that
 * file): three chat tasks, translit_ru (6,400 training examples: a Russian word -> ISO 9), upper_fr (640: a
 * French word -> capitals) and translit_el (64: a Greek word -> Latin letters), 100 held-out examples each,
 * and `base/`, a Qwen2-shaped chat model (2 layers of width 64, a byte-level tokenizer, Qwen2's ChatML
 * template) pretrained on the three skills in plain text over other words and on chats that echo the user.
 * The environment variable `SFT_MIX_DATA=DIR` reads another such folder (the README test's).
 *
 * Stages, per seed: three LoRA stages from the base, identical but for the mix of the three tasks: T = 1
 * (proportional: 90.1 / 9.0 / 0.9%), T = 5 (49.3 / 31.1 / 19.6%), and Cooldown (T = 5 for the first half,
 * then T = 1); each is evaluated on the held-out examples (response loss, greedy exact match).
 * `deno task sweep pipelines/sft_mix.ts --jobs 2` runs the 3 seeds (37 minutes here);
 * pipelines/sft_mix_table.ts tabulates them.
 *
 * @module
 */
import {
  adamw,
  cooldown,
  evaluate,
  jsonl,
  lmLoss,
  lora,
  pipeline,
  pretrained,
  split,
  temperature,
  train,
} from "../mod.ts";
import type { TrainOptions } from "../mod.ts";

const DATA = dataFolder();
const BASE = `${DATA}/base`;
/** Largest first: training examples 6,400, 640, 64; 100 held out of each. */
export const TASKS = ["translit_ru", "upper_fr", "translit_el"] as const;
const SIZES = { translit_ru: 6400, upper_fr: 640, translit_el: 64 };
const HELD_OUT = 100;

const task = (name: keyof typeof SIZES) =>
  [jsonl(`${DATA}/${name}.jsonl`, { tokenizer: BASE }), split(HELD_OUT / (SIZES[name] + HELD_OUT))] as const;

// LoRA rank 8 on every projection of both layers (q, k, v, o, gate, up, down).
const tune: Omit<TrainOptions<never, string>, "mix"> = {
  adapters: [
    lora(["model.layers.*.self_attn.*_proj", "model.layers.*.mlp.*_proj"], {
      rank: 8,
      scale: { kind: "alpha", alpha: 16 },
    }),
  ],
  loss: lmLoss(),
  optimizer: adamw({ lr: 1e-2, warmup: 20, decay: "cosine", clip: 1 }),
  steps: 600,
  batch: 16,
  evalEvery: 100,
};

const check = (from: "t1" | "t5" | "cooldown") =>
  evaluate({
    from,
    tasks: ["validation_loss", "exact_match"],
    domains: [...TASKS],
    exactMatch: { maxNewTokens: 16, examples: HELD_OUT },
  });

const spec = pipeline("sft_mix")
  .seed(1)
  .domain("translit_ru", ...task("translit_ru"))
  .domain("upper_fr", ...task("upper_fr"))
  .domain("translit_el", ...task("translit_el"))
  .model(pretrained(BASE, { context: 40 }))
  .stage("t1", train({ ...tune, mix: temperature(TASKS, 1) }))
  .stage("t5", train({ ...tune, mix: temperature(TASKS, 5) }))
  .stage("cooldown", train({ ...tune, mix: temperature(TASKS, cooldown(5, 1, 0.5)) }))
  .stage("eval_t1", check("t1"))
  .stage("eval_t5", check("t5"))
  .stage("eval_cooldown", check("cooldown"))
  .sweep({ seed: [1, 2, 3] });

export default spec;

function dataFolder(): string {
  try {
    return Deno.env.get("SFT_MIX_DATA") ?? "runs/sft_mix_data";
  } catch {
    // no permission to read the environment: the default folder
    return "runs/sft_mix_data";
  }
}

/**
 * The data and the chat model of pipelines/sft_mix.ts, under `<out>/sft_mix_data/` (the same bytes on every
 * run and machine, apart from the pretrained weights, which are as deterministic as WebGPU runs are):
 *
 * - three chat tasks of very different sizes (training examples 100 : 10 : 1), each with 100 held-out
 *   examples at the end of its file, scored by exact match:
 *   `add.jsonl` (6,400 + 100): "37+58" -> "95", operands 0-99;
 *   `reverse.jsonl` (640 + 100): a French word of 3-5 letters a-z (`dictionary-fr`) -> the word reversed;
 *   `translit.jsonl` (64 + 100): a Russian word of 3-4 letters (`dictionary-ru`) -> its Latin
 *   transliteration by a fixed table (a "translation" between the two lists' scripts that a rule decides).
 * - `init/`: a Qwen2-shaped checkpoint (2 layers of width 32, 2 heads over 1 kv head, SwiGLU 96, tied
 *   embeddings, 32 positions, 292 ids: 34,208 weights) with GPT-2-style initialisation (N(0, 0.02), norms
 *   1, biases 0); its `tokenizer.json` is a byte-level BPE whose only merges make each Russian letter one id
 *   (ids 0-255 the bytes, 256-288 the letters) with `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` (289-291),
 *   and its `tokenizer_config.json` holds Qwen2's ChatML template (without Qwen2-Instruct's default system
 *   turn).
 * - `pretrain.txt`: the base model's text: French and Russian words the tasks do not use and numbers, half
 *   of them alone on a line, half echoed back in a ChatML conversation (the chat format and copying; no
 *   task).
 * - `base/`: `init/` with every weight pretrained on `pretrain.txt` (400 steps of 16 windows, the pipeline
 *   `sft_mix_base` in `<out>/sft_mix_base/`), written in the Hugging Face layout with the tokenizer files.
 *
 * `XDG_RUNTIME_DIR=/tmp deno run -A pipelines/sft_mix_data.ts [--out runs] [--steps N]` (`--steps`: a quick
 * try, pretraining N steps). A file already holding exactly the bytes to write is left alone: the
 * checkpoint's modification time is part of the sweep stages' cache key.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  adamw,
  lmLoss,
  pipeline,
  type PipelineSpec,
  pretrained,
  runScript,
  ScriptUsageError,
  stageOf,
  temperature,
  train,
  validatePipeline,
} from "../mod.ts";
import { withSteps } from "../src/cli/load.ts";
import { writeHfCheckpoint } from "../src/export/hf_layout.ts";
import { mergeStage } from "../src/export/merge_stage.ts";
import { consoleLogger } from "../src/run/log.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import { writeSafetensors } from "../src/adapters/safetensors.ts";
import { parseDic } from "../src/data/sources/dictionary.ts";
import { dictionaryBytes } from "../src/data/sources/dictionary.ts";
import { parseArch } from "../src/models/pretrained/arch.ts";
import { checkpointTensors } from "../src/models/pretrained/tensors.ts";
import { normalArray, seedFor } from "../src/models/init.ts";
import { Rng } from "../src/random.ts";

/** Examples held out of every task (scored by exact match and validation loss). */
export const HELD_OUT = 100;
/** Training examples per task: 100 : 10 : 1. */
export const TASKS = { add: 6400, reverse: 640, translit: 64 } as const;
const SEED = 19;
/** Steps of the base model's pretraining (batch 16 windows of 33 ids). */
const PRETRAIN_STEPS = 400;

/** Qwen2's config.json for the base model. */
export const CONFIG: Record<string, unknown> = {
  model_type: "qwen2",
  architectures: ["Qwen2ForCausalLM"],
  vocab_size: 292,
  hidden_size: 32,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 32,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 289,
  eos_token_id: 289,
};

// Qwen2's template, less the system turn Qwen2-Instruct adds when a conversation has none.
const CHAT_TEMPLATE = "{% for message in messages %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/** The 33 lowercase Russian letters, in alphabetical order. */
const RUSSIAN = [..."абвгдеёжзийклмнопрстуфхцчшщъыьэюя"];
const FIRST_SPECIAL = 256 + RUSSIAN.length;

/** GPT-2's byte-to-symbol map: printable bytes stand for themselves, the others get code points from 256. */
function byteSymbols(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  return out;
}

function tokenizerJson(): unknown {
  const symbols = byteSymbols();
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => vocab[s] = i);
  // one merge per Russian letter: its two UTF-8 bytes become one id
  const merges = RUSSIAN.map((letter) =>
    [...new TextEncoder().encode(letter)].map((b) => symbols[b]).join(" ")
  );
  merges.forEach((m, i) => vocab[m.replace(" ", "")] = 256 + i);
  SPECIAL.forEach((s, i) => vocab[s] = FIRST_SPECIAL + i);
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    added_tokens: SPECIAL.map((content, i) => ({
      id: FIRST_SPECIAL + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

const TOKENIZER_CONFIG = {
  bos_token: null,
  eos_token: "<|endoftext|>",
  pad_token: "<|endoftext|>",
  chat_template: CHAT_TEMPLATE,
  model_max_length: 32,
};

// A Russian-to-Latin table (close to ISO 9 / scientific transliteration, one Latin spelling per letter).
const TRANSLIT: Record<string, string> = {
  а: "a",
  б: "b",
  в: "v",
  г: "g",
  д: "d",
  е: "e",
  ё: "yo",
  ж: "zh",
  з: "z",
  и: "i",
  й: "j",
  к: "k",
  л: "l",
  м: "m",
  н: "n",
  о: "o",
  п: "p",
  р: "r",
  с: "s",
  т: "t",
  у: "u",
  ф: "f",
  х: "h",
  ц: "c",
  ч: "ch",
  ш: "sh",
  щ: "shh",
  ъ: "'",
  ы: "y",
  ь: "'",
  э: "eh",
  ю: "yu",
  я: "ya",
};

/** Distinct words of `dictionary-<lang>` made only of `letters`, `min`-`max` long, in a seeded order. */
async function words(lang: string, letters: RegExp, min: number, max: number, n: number): Promise<string[]> {
  const all = parseDic(new TextDecoder().decode(await dictionaryBytes(lang)));
  const kept = [...new Set(all.filter((w) => w.length >= min && w.length <= max && letters.test(w)))];
  kept.sort();
  new Rng(SEED, lang.charCodeAt(0), lang.charCodeAt(1)).shuffle(kept);
  if (kept.length < n) {
    throw new Error(`dictionary-${lang} has ${kept.length} words of the kind, ${n} needed`);
  }
  return kept.slice(0, n);
}

function chat(user: string, assistant: string): string {
  return JSON.stringify({
    messages: [{ role: "user", content: user }, { role: "assistant", content: assistant }],
  });
}

/** Every generated file, by name under the output folder. */
export async function generate(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const text = (s: string) => new TextEncoder().encode(s);
  const lines = (l: string[]) => text(l.join("\n") + "\n");

  const rng = new Rng(SEED, 1);
  const pairs = new Set<number>();
  const add: string[] = [];
  while (add.length < TASKS.add + HELD_OUT) {
    const a = rng.int(100), b = rng.int(100);
    if (pairs.has(a * 100 + b)) continue;
    pairs.add(a * 100 + b);
    add.push(chat(`${a}+${b}`, `${a + b}`));
  }
  files.set("add.jsonl", lines(add));

  const nReverse = TASKS.reverse + HELD_OUT, nTranslit = TASKS.translit + HELD_OUT;
  const fr = await words("fr", /^[a-z]+$/, 3, 5, nReverse + 3000);
  files.set("reverse.jsonl", lines(fr.slice(0, nReverse).map((w) => chat(w, [...w].reverse().join("")))));
  const ru = await words("ru", /^[а-яё]+$/, 3, 4, nTranslit + 2500);
  files.set(
    "translit.jsonl",
    lines(ru.slice(0, nTranslit).map((w) => chat(w, [...w].map((c) => TRANSLIT[c]).join("")))),
  );

  // the base model's text: words and numbers the tasks do not use, each either alone on a line or echoed in
  // a ChatML conversation (the chat format and copying; no task)
  const plain = [...fr.slice(nReverse), ...ru.slice(nTranslit)];
  for (let i = 0; i < 3000; i++) plain.push(String(100 + rng.int(900)));
  rng.shuffle(plain);
  const echo = (w: string) => `<|im_start|>user\n${w}<|im_end|>\n<|im_start|>assistant\n${w}<|im_end|>\n`;
  files.set("pretrain.txt", text(plain.map((w, i) => i % 2 ? echo(w) : w + "\n").join("")));

  const tokenizer = text(JSON.stringify(tokenizerJson()));
  const tokenizerConfig = text(JSON.stringify(TOKENIZER_CONFIG, null, 2));
  files.set("init/tokenizer.json", tokenizer);
  files.set("init/tokenizer_config.json", tokenizerConfig);
  files.set("init/config.json", text(JSON.stringify(CONFIG, null, 2)));
  files.set("init/model.safetensors", writeSafetensors(initialWeights()));
  return files;
}

function initialWeights(): Record<string, { shape: number[]; data: Float32Array }> {
  const arch = parseArch(CONFIG, "config.json");
  return Object.fromEntries(
    checkpointTensors(arch).map((t) => {
      const n = t.shape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (t.name.endsWith("norm.weight")) data = new Float32Array(n).fill(1);
      else if (t.name.endsWith(".bias")) data = new Float32Array(n);
      else data = normalArray(n, 0.02, seedFor(SEED, t.name));
      return [t.name, { shape: t.shape, data }];
    }),
  );
}

async function writeIfChanged(path: string, bytes: Uint8Array): Promise<boolean> {
  const old = await Deno.readFile(path).catch(() => undefined);
  if (old && old.length === bytes.length && old.every((b, i) => b === bytes[i])) return false;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, bytes);
  return true;
}

/**
 * Pretrains every weight of `init/` on `pretrain.txt` (a pipeline of one stage, reused when done); `steps`
 * cuts it short as `--steps` does (a quick try).
 */
export function basePipeline(dir: string, steps?: number): PipelineSpec {
  const spec = pipeline("sft_mix_base")
    .seed(SEED)
    .domain("text", { kind: "text", path: `${dir}/pretrain.txt`, tokenizer: `${dir}/init` })
    .model(pretrained(`${dir}/init`, { context: 32 }))
    .stage(
      "pretrain",
      train({
        mix: temperature(["text"]),
        loss: lmLoss(),
        optimizer: adamw({ lr: 3e-3, warmup: 20, decay: "cosine" }),
        steps: PRETRAIN_STEPS,
        batch: 16,
      }),
    )
    .build();
  return validatePipeline(steps === undefined ? spec : withSteps(spec, steps));
}

if (import.meta.main) {
  await runScript(async () => {
    const { values } = parseArgs({
      args: Deno.args,
      options: { out: { type: "string", default: "runs" }, steps: { type: "string" } },
    });
    const steps = values.steps === undefined ? undefined : Number(values.steps);
    if (steps !== undefined && (!Number.isSafeInteger(steps) || steps < 1)) {
      throw new ScriptUsageError(`--steps: expected a whole number of at least 1, found ${values.steps}`);
    }
    const dir = `${values.out}/sft_mix_data`;
    let written = 0;
    for (const [name, bytes] of await generate()) {
      if (await writeIfChanged(`${dir}/${name}`, bytes)) written++;
    }
    console.log(`${dir}: data and init/ written (${written} files changed)`);
    const result = await runPipeline(basePipeline(dir, steps), { out: values.out!, log: consoleLogger() });
    const merged = await mergeStage(stageOf(result, "pretrain").path);
    // written beside, then copied file by file where it differs: base/'s modification times key later stages
    const fresh = `${dir}/base.new`;
    await writeHfCheckpoint(fresh, merged.config, merged.tensors);
    for (const file of merged.copies) await Deno.copyFile(file, `${fresh}/${file.split("/").at(-1)}`);
    let changed = 0;
    for await (const e of Deno.readDir(fresh)) {
      if (await writeIfChanged(`${dir}/base/${e.name}`, await Deno.readFile(`${fresh}/${e.name}`))) changed++;
    }
    await Deno.remove(fresh, { recursive: true });
    console.log(`${dir}/base: the pretrained chat model (${changed} files changed)`);
  });
}

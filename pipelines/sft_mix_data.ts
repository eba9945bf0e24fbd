/**
 * The data and the chat model of pipelines/sft_mix.ts, under `<out>/sft_mix_data/` (the same bytes on every
 * run and machine, apart from the pretrained weights, which are as deterministic as WebGPU runs are):
 *
 * - three chat tasks of very different sizes (training examples 100 : 10 : 1), each with 100 held-out
 *   examples at the end of its file, scored by exact match; each is told apart by the script of its word:
 *   `translit_ru.jsonl` (6,400 + 100): a Russian word of 3-6 letters (`dictionary-ru`) -> its ISO 9
 *   transliteration, one Latin letter per letter ("жук" -> "žuk");
 *   `upper_fr.jsonl` (640 + 100): a French word of 3-5 letters a-z (`dictionary-fr`) -> the word in capitals;
 *   `translit_el.jsonl` (64 + 100): a Greek word of 3-5 letters (`dictionary-el`) -> its Latin spelling by a
 *   table after ELOT 743 ("θέα" -> "thea", accents dropped).
 * - `init/`: a Qwen2-shaped checkpoint (2 layers of width 64, 4 heads over 2 kv heads, SwiGLU 192, tied
 *   embeddings, 40 positions, 334 ids) with GPT-2-style initialisation (N(0, 0.02), norms 1, biases 0);
 *   its `tokenizer.json` is a byte-level BPE whose only merges make each Russian and Greek letter and each
 *   of ISO 9's ten two-byte Latin letters one id (ids 0-255 the bytes, 256-330 the letters) with
 *   `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` (331-333), and its `tokenizer_config.json` holds Qwen2's
 *   ChatML template (without Qwen2-Instruct's default system turn).
 * - `pretrain.txt`: the base model's text, the three skills in plain form on 2,500 other words each
 *   ("кот=kot", "chat=CHAT", "και=kai"), one a line, and 900 chats in which the assistant echoes the
 *   user's word (the chat format). Instruction tuning then has to teach which skill a chat asks for.
 *   `checkHeldOut` fails the script if a held-out prompt or answer is a training example's prompt or answer
 *   or an item of this text.
 * - `base/`: `init/` with every weight pretrained on `pretrain.txt` (2,000 steps of 16 windows, the pipeline
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
export const TASKS = { translit_ru: 6400, upper_fr: 640, translit_el: 64 } as const;
export type TaskName = keyof typeof TASKS;
const SEED = 19;
/** Steps of the base model's pretraining (batch 16 windows of 41 ids). */
const PRETRAIN_STEPS = 2000;
/** Words per task that the plain text shows with their answer (words no task example uses). */
const PLAIN_WORDS = 2500;
/** Of those, words per task echoed back in a chat (the chat format, and no task). */
const ECHOED = 300;
/** Positions of the model: the longest chat (a 5-letter Greek word, 10 Latin letters back) is 36 ids. */
const CONTEXT = 40;

const SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/** The 33 lowercase Russian letters, in alphabetical order. */
const RUSSIAN = [..."абвгдеёжзийклмнопрстуфхцчшщъыьэюя"];
/** ISO 9 (1995): one Latin letter per Russian letter, so a transliteration is as long as its word. */
const ISO9 = [..."abvgdeëžzijklmnoprstufhcčšŝʺyʹèûâ"];
/** The lowercase Greek letters (final sigma included) and the accented vowels. */
const GREEK = [..."αβγδεζηθικλμνξοπρστυφχψωςάέήίόύώ"];
/** A Greek-to-Latin table (after ELOT 743, one spelling per letter, accents dropped). */
const GREEK_LATIN = "a v g d e z i th i k l m n x o p r s t y f ch ps o s a e i i o y o".split(" ");
/** ISO 9's letters outside ASCII (two bytes each in UTF-8). */
const LATIN = ISO9.filter((c) => c.charCodeAt(0) > 127);
/** Letters made one id each by the tokenizer's merges. */
const LETTERS = [...RUSSIAN, ...LATIN, ...GREEK];
const FIRST_SPECIAL = 256 + LETTERS.length;

/** Qwen2's config.json for the base model. */
export const CONFIG: Record<string, unknown> = {
  model_type: "qwen2",
  architectures: ["Qwen2ForCausalLM"],
  vocab_size: FIRST_SPECIAL + SPECIAL.length,
  hidden_size: 64,
  intermediate_size: 192,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: CONTEXT,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: FIRST_SPECIAL,
  eos_token_id: FIRST_SPECIAL,
};

// Qwen2's template, less the system turn Qwen2-Instruct adds when a conversation has none.
const CHAT_TEMPLATE = "{% for message in messages %}" +
  "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

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
  // one merge per non-ASCII letter: its two UTF-8 bytes become one id
  const merges = LETTERS.map((letter) =>
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
  model_max_length: CONTEXT,
};

/** Distinct words of `dictionary-<lang>` of `letters` only, 3-`max` letters long, in a seeded order. */
async function words(lang: string, letters: RegExp, max: number): Promise<string[]> {
  const all = parseDic(new TextDecoder().decode(await dictionaryBytes(lang)));
  const kept = [...new Set(all.filter((w) => [...w].length >= 3 && [...w].length <= max && letters.test(w)))];
  kept.sort();
  return new Rng(SEED, lang.charCodeAt(0), lang.charCodeAt(1)).shuffle(kept);
}

const toLatin = (table: Record<string, string>) => (w: string) => [...w].map((c) => table[c]).join("");

/** Each task's word list and answer rule. */
async function skills(): Promise<Record<TaskName, { words: string[]; answer: (w: string) => string }>> {
  return {
    translit_ru: {
      words: await words("ru", /^[а-яё]+$/, 6),
      answer: toLatin(Object.fromEntries(RUSSIAN.map((c, i) => [c, ISO9[i]]))),
    },
    upper_fr: { words: await words("fr", /^[a-z]+$/, 5), answer: (w) => w.toUpperCase() },
    translit_el: {
      words: await words("el", /^[α-ωάέήίόύώ]+$/, 5),
      answer: toLatin(Object.fromEntries(GREEK.map((c, i) => [c, GREEK_LATIN[i]]))),
    },
  };
}

function chat(user: string, assistant: string): string {
  return JSON.stringify({
    messages: [{ role: "user", content: user }, { role: "assistant", content: assistant }],
  });
}

/** The three tasks' examples (training first, the held-out ones last) and the base model's text. */
export interface TaskData {
  /** Per task, its examples as [prompt, response]: the training ones, then the HELD_OUT held-out ones. */
  tasks: Record<TaskName, [string, string][]>;
  /** The pretraining text. */
  pretrain: string;
}

/**
 * The tasks and the pretraining text. The base model learns the three skills in plain text ("кот=kot",
 * "chat=CHAT", "και=kai") on words no task uses, and the chat format from chats that echo the user;
 * instruction tuning then has to teach it to answer a chat with the skill its script asks for.
 */
export async function taskData(): Promise<TaskData> {
  const all = await skills();
  const names = Object.keys(TASKS) as TaskName[];
  // the held-out words first; no other example or plain line may hold one of their prompts or answers
  const held = new Set(
    names.flatMap((t) => all[t].words.slice(0, HELD_OUT).flatMap((w) => [w, all[t].answer(w)])),
  );
  const tasks = {} as TaskData["tasks"];
  const skillLines: string[] = [];
  const echoed: string[] = [];
  for (const t of names) {
    const { words, answer } = all[t];
    const rest = words.slice(HELD_OUT).filter((w) => !held.has(w) && !held.has(answer(w)));
    if (rest.length < TASKS[t] + PLAIN_WORDS) {
      throw new Error(`${t}: ${rest.length} words, ${TASKS[t] + PLAIN_WORDS} needed`);
    }
    const pair = (w: string): [string, string] => [w, answer(w)];
    tasks[t] = [...rest.slice(0, TASKS[t]).map(pair), ...words.slice(0, HELD_OUT).map(pair)];
    const plain = rest.slice(TASKS[t], TASKS[t] + PLAIN_WORDS);
    skillLines.push(...plain.map((w) => `${w}=${answer(w)}\n`));
    echoed.push(...plain.slice(0, ECHOED));
  }
  const echo = (w: string) => `<|im_start|>user\n${w}<|im_end|>\n<|im_start|>assistant\n${w}<|im_end|>\n`;
  const lines = new Rng(SEED, 1).shuffle([...skillLines, ...echoed.map(echo)]);
  const data = { tasks, pretrain: lines.join("") };
  checkHeldOut(data);
  return data;
}

/**
 * Fails unless every held-out example is unseen: neither its prompt nor its response is a training
 * example's prompt or response, nor an item of the pretraining text (a run of text between line breaks,
 * "=" and chat markup).
 */
export function checkHeldOut(data: TaskData): void {
  const items = new Set(data.pretrain.split(/\n|=|<\|im_start\|>(?:user|assistant)|<\|im_end\|>/));
  const trained = new Set(
    Object.values(data.tasks).flatMap((examples) => examples.slice(0, -HELD_OUT).flat()),
  );
  for (const [name, examples] of Object.entries(data.tasks)) {
    for (const [prompt, response] of examples.slice(-HELD_OUT)) {
      const seen = [prompt, response].find((f) => items.has(f) || trained.has(f));
      if (seen !== undefined) {
        throw new Error(
          `held-out ${name} example "${prompt}" -> "${response}": "${seen}" is in training text`,
        );
      }
    }
  }
}

/** Every generated file, by name under the output folder. */
export async function generate(): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const text = (s: string) => new TextEncoder().encode(s);
  const lines = (l: string[]) => text(l.join("\n") + "\n");
  const data = await taskData();
  for (const [name, examples] of Object.entries(data.tasks)) {
    files.set(`${name}.jsonl`, lines(examples.map(([p, r]) => chat(p, r))));
  }
  files.set("pretrain.txt", text(data.pretrain));
  files.set("init/tokenizer.json", text(JSON.stringify(tokenizerJson())));
  files.set("init/tokenizer_config.json", text(JSON.stringify(TOKENIZER_CONFIG, null, 2)));
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
    .model(pretrained(`${dir}/init`, { context: CONTEXT }))
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

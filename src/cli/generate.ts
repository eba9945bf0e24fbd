/**
 * `deno task generate DIR [--adapter DIR] --prompt TEXT [--max-new N] [--greedy | --temperature T --top-p P]
 * [--seed N]`
 */
import { parseArgs } from "node:util";
import { loadAdapterFolder } from "../adapters/adapter_folder.ts";
import { MergeError } from "../adapters/merge.ts";
import { PeftError } from "../adapters/peft.ts";
import { SafetensorsError } from "../adapters/safetensors.ts";
import { DataError } from "../data/errors.ts";
import { loadTokenizer } from "../data/tokenizer.ts";
import { applyAdapter } from "../models/pretrained/apply_adapter.ts";
import { gpu } from "../gpu/device.ts";
import { type Pretrained, readPretrained } from "../models/pretrained/checkpoint.ts";
import type { PretrainedLmArch } from "../models/pretrained/arch.ts";
import { fitBatch } from "../compile/forward_plan.ts";
import { limitsInUse, limitsLine, type PlanLimits } from "../compile/limits.ts";
import { PipelineError } from "../spec/problem.ts";
import { PretrainedError } from "../models/pretrained/errors.ts";
import { generate, generationGraph } from "../compile/generate.ts";
import type { Sampling } from "../models/pretrained/sampling.ts";
import { byteCodec, type TokenCodec, tokenizerCodec } from "../models/pretrained/tokens.ts";
import "../graph/ops/mod.ts";

const USAGE = `usage: deno task generate DIR [--adapter DIR] --prompt TEXT [--max-new N] [--greedy | \
--temperature T --top-p P] [--seed N]
  DIR            a checkpoint folder in the Hugging Face layout (GPT-2, Llama, Mistral, Qwen2)
  --adapter      a PEFT LoRA adapter folder (or a stage's adapter/), merged into the weights before generating
  --prompt       the text to continue (tokenized by DIR/tokenizer.json, else as UTF-8 byte ids)
  --max-new      tokens to generate (default 32)
  --greedy       always the most likely token (the default without --temperature or --top-p)
  --temperature  sample from softmax(logits / T) (default 1 when sampling)
  --top-p        sample among the most likely tokens holding probability P (default 1)
  --seed         sampling seed (default 0)`;

class UsageError extends Error {}

/** Runs the command; returns the exit code (0 done, 1 failed while generating, 2 bad usage or checkpoint). */
export async function main(args: string[], write: (text: string) => void = writeStdout): Promise<number> {
  let dir: string,
    adapter: string | undefined,
    prompt: string,
    maxNew: number,
    seed: number,
    sampling: Sampling;
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        prompt: { type: "string" },
        adapter: { type: "string" },
        "max-new": { type: "string", default: "32" },
        greedy: { type: "boolean", default: false },
        temperature: { type: "string" },
        "top-p": { type: "string" },
        seed: { type: "string", default: "0" },
      },
    });
    if (positionals.length !== 1) {
      throw new UsageError(`expected one checkpoint folder, found ${positionals.length}`);
    }
    dir = positionals[0].replace(/\/+$/, "");
    adapter = values.adapter?.replace(/\/+$/, "");
    if (adapter === "") throw new UsageError("--adapter: expected an adapter folder");
    if (values.prompt === undefined || values.prompt === "") {
      throw new UsageError("--prompt: expected some text");
    }
    prompt = values.prompt;
    maxNew = count("max-new", values["max-new"], 1);
    seed = count("seed", values.seed, 0);
    const sampled = values.temperature !== undefined || values["top-p"] !== undefined;
    if (values.greedy && sampled) {
      throw new UsageError("--greedy: expected either --greedy or --temperature/--top-p, found both");
    }
    sampling = sampled
      ? {
        kind: "sample",
        temperature: real("temperature", values.temperature ?? "1", (v) => v > 0, "a number > 0"),
        topP: real("top-p", values["top-p"] ?? "1", (v) => v > 0 && v <= 1, "a number in (0, 1]"),
      }
      : { kind: "greedy" };
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  let model, codec: TokenCodec;
  try {
    model = readPretrained(dir);
    if (adapter !== undefined) model = applyAdapter(model, await loadAdapterFolder(adapter), adapter);
    const hasTokenizer = await Deno.stat(`${dir}/tokenizer.json`).then(() => true, () => false);
    codec = hasTokenizer ? tokenizerCodec(loadTokenizer(dir)) : byteCodec;
    const arch = model.arch;
    if (arch.family === "vit") {
      throw new PretrainedError(`${dir}/config.json`, "is a vit model: generate needs a language model");
    }
    if (!hasTokenizer && arch.vocab < 256) {
      throw new PretrainedError(
        `${dir}/config.json`,
        `vocab_size ${arch.vocab} is below 256 and there is no tokenizer.json; prompts are byte ids 0-255`,
      );
    }
  } catch (e) {
    if (
      e instanceof PretrainedError || e instanceof PeftError || e instanceof MergeError ||
      e instanceof SafetensorsError || e instanceof DataError
    ) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  let context: number;
  try {
    context = fitContext(model, await limitsInUse());
  } catch (e) {
    if (!(e instanceof PipelineError)) throw e;
    console.error(`${dir}: ${e.problems[0].message}`);
    return 2;
  }
  try {
    const { device } = await gpu();
    const decoder = codec.decoder();
    write(prompt);
    const options = { maxNew, sampling, seed, context };
    for await (const id of generate(device, model, codec.encode(prompt), options)) {
      write(decoder.push(id));
    }
    write(decoder.end() + "\n");
    return 0;
  } catch (e) {
    console.error(`generation failed: ${(e as Error).message}`);
    return 1;
  }
}

/**
 * The longest window of tokens, up to the model's positions, whose forward pass fits `limits` (its activations
 * grow with it); a shorter one is said on stderr. Throws a PipelineError when not even one token fits.
 */
function fitContext(model: Pretrained, limits: PlanLimits): number {
  const arch = model.arch as PretrainedLmArch;
  const fit = fitBatch(
    `generation with ${model.dir}`,
    arch.positions,
    limits,
    (context) => {
      const g = generationGraph(arch, context);
      return { model: g.graph, outputs: [g.logits], store: false };
    },
    false,
    "context",
  );
  if (fit.batch < arch.positions) {
    console.error(
      `generate: the model sees the last ${fit.batch} of ${arch.positions} positions, the most that fit ` +
        `the device's limits (${limitsLine(limits)})`,
    );
  }
  return fit.batch;
}

function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
}

function count(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name}: expected an integer >= ${min}, found ${v}`);
  }
  return n;
}

function real(name: string, v: string, ok: (x: number) => boolean, what: string): number {
  const n = Number(v);
  if (v.trim() === "" || !ok(n)) throw new UsageError(`--${name}: expected ${what}, found ${v}`);
  return n;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

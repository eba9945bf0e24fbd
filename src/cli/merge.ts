/** `deno task merge RUN_STAGE_DIR --out DIR [--gate G]`: a trained stage as one checkpoint, LoRA folded in. */
import { parseArgs } from "node:util";
import { MergeError } from "../adapters/merge.ts";
import { PeftError } from "../adapters/peft.ts";
import { SafetensorsError } from "../adapters/safetensors.ts";
import { ExportError } from "../export/errors.ts";
import { HF_CONFIG_FILE, HF_MODEL_FILE, writeHfCheckpoint } from "../export/hf_layout.ts";
import { mergeStage } from "../export/merge_stage.ts";
import { PretrainedError } from "../models/pretrained/errors.ts";

const USAGE = `usage: deno task merge RUN_STAGE_DIR --out DIR [--gate G]
  RUN_STAGE_DIR  a train stage's folder in a run (runs/<pipeline>/<stage>-<hash>)
  --out          folder for config.json and model.safetensors (Hugging Face layout, float32), and the
                 tokenizer files of a pretrained model's checkpoint folder
  --gate         the fixed gate g in [0, 1] a gated (hq/lq) pair is merged at`;

/** Runs the command; returns the exit code (0 written, 1 failed while writing, 2 bad arguments or input). */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { out: { type: "string" }, gate: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const o = parsed.values;
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (parsed.positionals.length !== 1 || o.out === undefined) {
    console.error(`expected one RUN_STAGE_DIR and --out DIR\n${USAGE}`);
    return 2;
  }
  const gate = o.gate === undefined ? undefined : Number(o.gate);
  if (gate !== undefined && !(gate >= 0 && gate <= 1)) {
    console.error(`--gate: expected a number in [0, 1], found ${o.gate}`);
    return 2;
  }
  const dir = parsed.positionals[0].replace(/\/+$/, "");
  let model;
  try {
    model = await mergeStage(dir, { gate });
  } catch (e) {
    if (
      e instanceof MergeError || e instanceof PeftError || e instanceof SafetensorsError ||
      e instanceof PretrainedError
    ) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  try {
    await writeHfCheckpoint(o.out, model.config, model.tensors);
    for (const path of model.copies) await Deno.copyFile(path, `${o.out}/${path.split("/").pop()}`);
  } catch (e) {
    console.error(`merge failed: ${(e as Error).message}`);
    return e instanceof ExportError ? 2 : 1;
  }
  const merged = model.merged.length ? `LoRA merged into ${model.merged.length} modules` : "no LoRA to merge";
  const names = [HF_CONFIG_FILE, HF_MODEL_FILE, ...model.copies.map((p) => p.split("/").pop())];
  console.log(`${names.map((n) => `${o.out}/${n}`).join(", ")} written (${merged})`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Trains compatible train stages of several pipeline files (a sweep's variants) as one pack: one process,
 * one packed step, each stage into its normal stage folder under `OUT/PIPELINE/`. The sweep's local
 * executor starts this; the stages they start from must be done.
 *
 * ```sh
 * deno run --allow-read --allow-write=runs --allow-env --allow-ffi --allow-sys src/cli/pack.ts \
 *   --out runs --variant a.json --stage finetune --variant b.json --stage finetune
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PipelineError } from "../spec/problem.ts";
import { consoleLogger } from "../run/log.ts";
import { runPackedStages } from "../run/packed_stages.ts";
import { checkPack } from "../run/packed_compat.ts";
import { quote } from "../spec/messages.ts";
import type { PipelineSpec } from "../spec/types.ts";
import { loadPipeline } from "./load.ts";
import { firstLine } from "./_thrown.ts";

const USAGE = `usage: pack.ts --out DIR (--variant FILE --stage NAME)...
  --out      folder for run outputs (the stage folders go to OUT/PIPELINE/)
  --variant  a pipeline file; the --stage after it names its train stage (one pair per stage run)`;

/** Runs the pack; returns the exit code (0 done, 1 a stage failed, 2 bad input or usage). */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        out: { type: "string", default: "runs" },
        variant: { type: "string", multiple: true, default: [] },
        stage: { type: "string", multiple: true, default: [] },
        help: { type: "boolean", short: "h", default: false },
      },
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
  if (o.variant.length !== o.stage.length || o.variant.length < 1) {
    console.error(
      `expected one --stage per --variant, found ${o.variant.length} --variant and ${o.stage.length} --stage\n` +
        USAGE,
    );
    return 2;
  }
  const members: { spec: PipelineSpec; stage: string }[] = [];
  const seen = new Set<string>();
  for (const [i, file] of o.variant.entries()) {
    try {
      const spec = await loadPipeline(file);
      const stage = o.stage[i];
      if (!Object.hasOwn(spec.stages, stage)) {
        throw new Error(
          `--stage: no stage named ${quote(stage)}; stages: ${Object.keys(spec.stages).join(", ")}`,
        );
      }
      const key = `${file} ${stage}`;
      if (seen.has(key)) throw new Error(`--stage ${stage} of this file is listed twice`);
      seen.add(key);
      members.push({ spec, stage });
    } catch (e) {
      console.error(e instanceof PipelineError ? e.format() : `${file}: ${firstLine(e)}`);
      return 2;
    }
  }
  try {
    checkPack(members.map((m) => ({ spec: m.spec, name: m.stage })));
  } catch (e) {
    console.error((e as Error).message.replace(":\n", ": ").replaceAll("\n", "; "));
    return 2;
  }
  try {
    await runPackedStages(members, { out: o.out, log: consoleLogger() });
    return 0;
  } catch (e) {
    console.error(`pack failed: ${(e as Error).message}`);
    console.error(`partial results are in ${o.out}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Scripts that run pipelines in order (pipelines/gpt2_pretrain.ts) end as the CLI does: a failure is one
 * line and a non-zero exit, never an uncaught stack trace.
 */
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { PipelineError } from "../spec/problem.ts";
import { firstLine } from "./_thrown.ts";

/** Bad arguments to a script: exit 2, like the CLI's usage errors. */
export class ScriptUsageError extends Error {
  override name = "ScriptUsageError";
}

/**
 * Runs `main` and returns its exit code: its own (0 when it returns nothing), 2 for an invalid pipeline, bad
 * arguments (`ScriptUsageError`, or `node:util`'s parseArgs errors) and 1 for any other failure, printed as
 * one line starting with the script's file name.
 *
 * @example
 * ```ts
 * import { scriptExitCode } from "../../mod.ts";
 * const code = await scriptExitCode(() => Promise.reject(new Error("no such file")), "demo.ts");
 * console.log(code); // 1, after printing "demo.ts: no such file"
 * ```
 */
export async function scriptExitCode(
  main: () => Promise<number | void>,
  name: string = scriptName(),
): Promise<number> {
  try {
    return (await main()) ?? 0;
  } catch (e) {
    if (e instanceof PipelineError) {
      console.error(e.format());
      return 2;
    }
    console.error(`${name}: ${firstLine(e)}`);
    return e instanceof ScriptUsageError || isParseArgsError(e) ? 2 : 1;
  }
}

/**
 * Runs a script's body and exits with its code when that is not 0 (see `scriptExitCode`).
 *
 * @example
 * ```ts ignore
 * if (import.meta.main) await runScript(async () => { await runPipeline(spec, { out: "runs", log }); });
 * ```
 */
export async function runScript(main: () => Promise<number | void>): Promise<void> {
  const code = await scriptExitCode(main);
  if (code !== 0) Deno.exit(code);
}

function isParseArgsError(e: unknown): boolean {
  return e instanceof TypeError && String((e as { code?: unknown }).code ?? "").startsWith("ERR_PARSE_ARGS");
}

function scriptName(): string {
  try {
    return basename(fileURLToPath(Deno.mainModule));
  } catch {
    return "script";
  }
}

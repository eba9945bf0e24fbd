/** Command-line values checked by the spec's own rules, and the write permission of `--out`, up front. */
import { Checker, type NumberRule } from "../spec/_checker.ts";
import { PipelineError } from "../spec/problem.ts";

/** A usage problem: one line naming the flag. */
export class UsageError extends Error {
  override name = "UsageError";
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** The number written after `--flag`, held to `rule` (the same rule as the spec key it overrides). */
export function flagNumber(flag: string, text: string | undefined, rule: NumberRule): number | undefined {
  if (text === undefined) return undefined;
  const check = new Checker();
  const value = check.number(
    `--${flag}`,
    NUMBER.test(text) ? Number(text) : text === "" ? undefined : text,
    rule,
  );
  const problem = check.problems[0];
  if (problem !== undefined) throw new UsageError(`${problem.path}: ${problem.message}`);
  return value;
}

/** A spec made invalid by an override is blamed on the flag, with the spec path of each problem. */
export function overrideError(e: unknown, flag: string): unknown {
  if (!(e instanceof PipelineError)) return e;
  return new UsageError(e.problems.map((p) => `${flag}: ${p.path}: ${p.message}`).join("\n"));
}

/**
 * Undefined when the run may write into `out`; otherwise the one line that says how to grant it
 * (`deno task pipeline` fixes its flags, so the line is the full `deno run` command).
 */
export async function writeDenied(out: string, args: readonly string[]): Promise<string | undefined> {
  const status = await Deno.permissions.query({ name: "write", path: out });
  if (status.state === "granted") return undefined;
  return `--out ${out}: no permission to write there (deno task pipeline writes only under runs/); run ` +
    `deno run --allow-read ${shellWord(`--allow-write=${out}`)} --allow-env --allow-ffi --allow-sys ` +
    `src/cli/main.ts ${args.map(shellWord).join(" ")}`;
}

function shellWord(word: string): string {
  return /^[\w.,/=:@+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

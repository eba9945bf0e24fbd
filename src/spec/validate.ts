/** Validation of an unknown value as a pipeline spec, reporting every problem with its path. */

import { Checker, MAX_PROBLEMS, TooManyProblems } from "./_checker.ts";
import { checkDataFiles } from "./_validate_files.ts";
import { checkDomains } from "./_validate_data.ts";
import { checkModel } from "./_validate_model.ts";
import { checkStages } from "./_validate_stages.ts";
import { withDefaults } from "./defaults.ts";
import { messages } from "./messages.ts";
import { PipelineError, type Problem, type SourceLocation } from "./problem.ts";
import type { PipelineSpec } from "./types.ts";

/** Where each spec path was written (`stages.ft.steps` -> 12:5), for problems to point into a file. */
export type SourceMap = ReadonlyMap<string, SourceLocation>;

/** Options of `validatePipeline`. */
export interface ValidateOptions {
  /** Positions of spec paths in the source file; problems get the line of their path or nearest parent. */
  locations?: SourceMap;
  /** The file name that `PipelineError.format` prints. */
  file?: string;
  /** Also check that the files and folders the domains read exist (the CLI does; builders need not). */
  files?: boolean;
}

const TOP_KEYS = ["name", "seed", "domains", "model", "stages"] as const;

/**
 * Every problem of a would-be spec (in file order when `locations` are given); empty when it is valid.
 *
 * @example
 * ```ts
 * import { checkPipeline } from "./validate.ts";
 * const problems = checkPipeline({ name: "x", seed: -1, domains: {}, stages: {} });
 * console.log(problems[0]); // { path: "seed", message: "expected an integer in [0, 4294967295], found -1" }
 * ```
 */
export function checkPipeline(value: unknown, locations?: SourceMap, files = false): Problem[] {
  const check = new Checker();
  let stopped = false;
  try {
    const isMap = typeof value === "object" && value !== null && !Array.isArray(value);
    // a file that is not a mapping (a symlink to some other file, say) is described, never quoted
    if (!isMap) check.add("", messages.notAPipeline(TOP_KEYS, value));
    const top = isMap ? check.record("", value, TOP_KEYS) : undefined;
    if (top !== undefined) {
      if (typeof top.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(top.name)) {
        check.add("name", messages.pipelineName(top.name));
      }
      check.number("seed", top.seed, SEED);
      const model = checkModel(check, top.model);
      const data = checkDomains(check, top.domains, model);
      checkStages(check, top.stages, data, model);
      if (files) checkDataFiles(check, top.domains);
    }
  } catch (e) {
    if (!(e instanceof TooManyProblems)) throw e;
    stopped = true;
  }
  const problems = locations === undefined ? check.problems : locateProblems(check.problems, locations);
  if (stopped) problems.push({ path: "", message: messages.tooManyProblems(MAX_PROBLEMS) });
  return problems;
}

/** The range of a pipeline's `seed` (also what `--seed` must satisfy). */
export const SEED = { integer: true, min: 0, max: 0xffffffff } as const;

/** Problems with the position of their path attached, in file order (stable: one line keeps its order). */
export function locateProblems(problems: readonly Problem[], locations: SourceMap): Problem[] {
  return problems.map((p) => locate(p, locations))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/**
 * Validates a value as a pipeline spec and returns it with every default filled (see `withDefaults`).
 * Throws a `PipelineError` listing every problem.
 *
 * @example
 * ```ts
 * import { PipelineError, validatePipeline } from "./mod.ts";
 * try {
 *   validatePipeline({ name: "x", seed: 0, domains: {}, stages: {} });
 * } catch (e) {
 *   console.log((e as PipelineError).problems.length); // 3: no model, no domains, no stages
 * }
 * ```
 */
export function validatePipeline(value: unknown, options: ValidateOptions = {}): PipelineSpec {
  const problems = checkPipeline(value, options.locations, options.files);
  if (problems.length > 0) throw new PipelineError(problems, options.file);
  return withDefaults(value as PipelineSpec);
}

/** Attaches the position of the problem's path, or of its nearest parent that has one. */
function locate(problem: Problem, locations: SourceMap): Problem {
  let path = problem.path;
  for (;;) {
    const at = locations.get(path);
    if (at !== undefined) return { ...problem, line: at.line, column: at.column };
    if (path === "") return problem;
    path = parentPath(path);
  }
}

/** `a.b[0].c` -> `a.b[0]` -> `a.b` -> `a` -> ``. */
export function parentPath(path: string): string {
  const cut = path.endsWith("]") ? path.lastIndexOf("[") : path.lastIndexOf(".");
  return cut <= 0 ? "" : path.slice(0, cut);
}

/** Problems found in a pipeline, and the error that carries all of them at once. */

/** A 1-based position in a source file. */
export interface SourceLocation {
  /** Line, from 1. */
  line: number;
  /** Column, from 1. */
  column: number;
}

/** One problem: where in the spec (`stages.ft.adapters[0].rank`), what is wrong, and where in the file. */
export interface Problem {
  /** Where in the spec, such as `stages.ft.adapters[0].rank`. */
  path: string;
  /** What is wrong: what was expected and what was found. */
  message: string;
  /** Line in the YAML file, when the spec came from one. */
  line?: number;
  /** Column in the YAML file. */
  column?: number;
}

/**
 * A pipeline that is not valid. `problems` lists every problem found, not only the first.
 *
 * @example
 * ```ts
 * import { PipelineError } from "./problem.ts";
 * const error = new PipelineError([
 *   { path: "stages.ft.mix.temperature", message: "expected a number > 0, found -1", line: 12, column: 5 },
 * ]);
 * console.log(error.format("cooldown.yaml"));
 * // cooldown.yaml:12:5 stages.ft.mix.temperature: expected a number > 0, found -1
 * ```
 */
export class PipelineError extends Error {
  /** Always `"PipelineError"`. */
  override name = "PipelineError";
  /** Every problem, in the order found. */
  readonly problems: Problem[];
  /** The file the pipeline came from, when known. */
  readonly file?: string;

  /** Carries `problems`; `file` prefixes each formatted line. */
  constructor(problems: Problem[], file?: string) {
    super(formatProblems(problems, file));
    this.problems = problems;
    this.file = file;
  }

  /** One line per problem: `file.yaml:12:5 stages.ft.mix.temperature: expected ..., found ...`. */
  format(file: string | undefined = this.file): string {
    return formatProblems(this.problems, file);
  }
}

function formatProblems(problems: readonly Problem[], file?: string): string {
  return problems.map((p) => formatProblem(p, file)).join("\n");
}

/** Formats one problem as `file:line:column path: message`, leaving out the parts that are unknown. */
export function formatProblem(problem: Problem, file?: string): string {
  let where = file ?? "";
  if (problem.line !== undefined) {
    where += `${where ? ":" : ""}${problem.line}:${problem.column ?? 1}`;
  }
  const path = problem.path === "" ? "(pipeline)" : problem.path;
  return `${where ? where + " " : ""}${path}: ${problem.message}`;
}

/** Appends a key or index to a spec path: `stages` + `ft` = `stages.ft`, + 0 = `stages.ft[0]`. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  // a long key is cut so that a path never carries a whole line of some file
  const part = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) && key.length <= 40
    ? key
    : JSON.stringify(key.length > 40 ? key.slice(0, 32) + "..." : key);
  if (base === "") return /^[A-Za-z_]/.test(part) ? part : `[${part}]`;
  return part.startsWith('"') ? `${base}[${part}]` : `${base}.${part}`;
}

/** What a pipeline module threw, as one short line: no stack, no source snippet, safe for any value. */
import { describe, quote } from "../spec/messages.ts";

/**
 * `the pipeline module failed: SyntaxError: Expected a semicolon (at /p/x.ts:1:9)` / `... threw "boom"` /
 * `... threw an object, not an Error`; never throws itself, even for a Proxy whose traps throw.
 */
export function thrownValue(e: unknown): string {
  try {
    if (e instanceof Error) return `the pipeline module failed: ${errorLine(e)}`;
    if (typeof e === "string") return `the pipeline module threw ${quote(e)}`;
    if (typeof e === "object" && e !== null) {
      let json: string | undefined;
      try {
        json = JSON.stringify(e);
      } catch {
        // cyclic: described below
      }
      return `the pipeline module threw ${json === undefined ? describe(e) : shortJson(json)}, not an Error`;
    }
    return `the pipeline module threw ${typeof e === "symbol" ? "a symbol" : String(e)}`;
  } catch {
    return "the pipeline module threw a value that cannot be inspected (a Proxy?)";
  }
}

function shortJson(json: string): string {
  return json.length <= 60 ? json : `${json.slice(0, 52)}... (${json.length} characters of JSON)`;
}

/** The first line of an error's message (or of any thrown value), for a one-line report; never throws. */
export function firstLine(e: unknown): string {
  try {
    const text = safeInstanceOf(e, Error) ? String((e as Error).message) : String(e);
    const line = text.replace(ANSI, "").split("\n")[0];
    return line.length > 300 ? line.slice(0, 297) + "..." : line;
  } catch {
    return "a value that cannot be inspected was thrown";
  }
}

/** True when `e` is an instance of `type`, false also when asking throws (a Proxy's trap). */
export function safeInstanceOf(e: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return e instanceof type;
  } catch {
    return false;
  }
}

// deno colours positions in some messages
// deno-lint-ignore no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** The message's first line, with the first `at file:line:col` line kept as the place (snippets dropped). */
function errorLine(e: Error): string {
  const lines = String(e.message).replace(ANSI, "").split("\n");
  let first = lines[0].trim();
  if (!/^[A-Za-z]*Error: /.test(first)) first = `${String(e.name)}: ${first}`;
  if (first.length > 200) first = first.slice(0, 197) + "...";
  const at = lines.map((l) => /^\s*at (file:\/\/\S+:\d+:\d+)\s*$/.exec(l)?.[1]).find((x) => x !== undefined);
  if (at === undefined) return first;
  const place = decodeURIComponent(at.replace(/^file:\/\//, ""));
  return `${first} (at ${place.length > 160 ? "..." + place.slice(-157) : place})`;
}

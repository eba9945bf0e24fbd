/** What a pipeline module threw, as one short line: no stack, no source snippet, safe for any value. */
import { describe, quote } from "../spec/messages.ts";

/** `SyntaxError: Unexpected token` / `threw "boom"` / `threw an object`; never throws itself. */
export function thrownValue(e: unknown): string {
  try {
    if (e instanceof Error) {
      const first = String(e.message).split("\n")[0].replace(/\s+at\s+\S+$/, "").trim();
      const text = first.length > 200 ? first.slice(0, 197) + "..." : first;
      return `the pipeline module failed: ${String(e.name)}: ${text}`;
    }
    if (typeof e === "string") return `the pipeline module threw ${quote(e)}`;
    if (typeof e === "object" && e !== null) return `the pipeline module threw ${describe(e)}, not an Error`;
    return `the pipeline module threw ${typeof e === "symbol" ? "a symbol" : String(e)}`;
  } catch {
    // a Proxy whose traps throw: say so rather than fail while reporting the failure
    return "the pipeline module threw a value that cannot be inspected (a Proxy?)";
  }
}

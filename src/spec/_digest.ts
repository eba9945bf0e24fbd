/** SHA-256 over named files, for hashes of what a stage reads from disk. */
import { files as host } from "../host/files.ts";
import { PipelineError } from "./problem.ts";

/**
 * Hex SHA-256 over each file's label and bytes, in the order given; a missing file is a problem at `path`.
 * `optional` files that are absent are left out.
 */
export async function filesDigest(
  files: { label: string; file: string; optional?: boolean }[],
  path: string,
): Promise<string> {
  const parts: Uint8Array[] = [];
  for (const f of files) {
    let bytes: Uint8Array;
    try {
      bytes = await host().readFile(f.file);
    } catch (e) {
      if (!host().notFound(e)) throw e;
      if (f.optional) continue;
      throw new PipelineError([{ path, message: `${f.file}: no such file` }]);
    }
    parts.push(new TextEncoder().encode(`${f.label}\n`), bytes);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

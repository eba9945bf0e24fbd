/** Writes report.html into a run folder. */
import { join } from "node:path";
import { loadRun } from "./load_run.ts";
import { renderReport } from "./render_report.ts";
import { writeAtomic } from "../files.ts";

/**
 * Reads the run folder, renders its report and writes it to `out`, by default `<runDir>/report.html`;
 * returns the path written.
 *
 * @example
 * ```ts ignore
 * const path = await writeReport("runs/multilingual");
 * ```
 */
export async function writeReport(runDir: string, out?: string): Promise<string> {
  const html = await renderReport(await loadRun(runDir));
  const path = out ?? join(runDir, "report.html");
  await writeAtomic(path, html);
  return path;
}

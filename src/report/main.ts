/**
 * The report CLI: rebuilds a run folder's `report.html`, or one comparison page over several runs (mean and
 * std per metric over seeds). Exit codes: 0 written, 1 a bad run folder, 2 bad arguments.
 *
 * ```sh
 * deno run --allow-read --allow-write=runs --allow-env jsr:@mixtune/mixtune/report RUN_DIR [RUN_DIR...] [--out PATH]
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ReportInputError } from "./errors.ts";
import { writeComparison } from "./render_comparison.ts";
import { writeReport } from "./write_report.ts";
import { writeSweepReport } from "./render_sweep.ts";

const USAGE = `usage: deno task report RUN_DIR [RUN_DIR...] [--out PATH]

  one RUN_DIR     writes RUN_DIR/report.html (a sweep's folder, holding sweep.json: RUN_DIR/sweep.html)
  several         writes one comparison of the runs (mean and std per metric over seeds)
                  to the first RUN_DIR's comparison.html
  --out PATH      write the page to PATH instead`;

/**
 * Runs the CLI on `args`; returns the exit code (0 done, 1 bad run folder, 2 bad arguments).
 *
 * @example
 * ```ts
 * const code = await main(["--help"]); // prints the usage
 * console.log(code); // 0
 * ```
 */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { out: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const dirs = parsed.positionals;
  if (parsed.values.help === true) {
    console.log(USAGE);
    return 0;
  }
  if (dirs.length === 0) {
    console.error(`error: expected at least one run folder, found none\n\n${USAGE}`);
    return 2;
  }
  try {
    const isSweep = dirs.length === 1 &&
      await Deno.stat(`${dirs[0]}/sweep.json`).then(() => true, () => false);
    const path = isSweep
      ? await writeSweepReport(dirs[0], parsed.values.out)
      : dirs.length === 1
      ? await writeReport(dirs[0], parsed.values.out)
      : await writeComparison(dirs, parsed.values.out);
    console.log(`wrote ${path}`);
    return 0;
  } catch (e) {
    if (e instanceof ReportInputError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    if (e instanceof Deno.errors.NotCapable) {
      console.error(`error: ${e.message} (the report task may write only under runs/)`);
      return 1;
    }
    throw e;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

/**
 * Starts a project that uses mixtune: writes `deno.json` (the import and the `pipeline` and `report` tasks
 * with the permissions they need), a starter pipeline `pipelines/quickstart.ts` and a `.gitignore` for
 * `runs/`. Nothing is overwritten: if any of the three exists, nothing is written.
 *
 * ```sh
 * deno run --allow-read --allow-write jsr:@mixtune/mixtune/init [DIR]
 * deno task pipeline          # runs pipelines/quickstart.ts, writes runs/starter/
 * ```
 *
 * @module
 */
import { VERSION } from "../version.ts";
import { PIPELINE_TASK, REPORT_TASK } from "./tasks.ts";
import { STARTER_PIPELINE } from "./_starter.ts";

const USAGE = "usage: deno run --allow-read --allow-write jsr:@mixtune/mixtune/init [DIR]";

/**
 * The files `init` writes, by path relative to the project folder.
 *
 * @example
 * ```ts
 * console.log(Object.keys(initFiles())); // ["deno.json", "pipelines/quickstart.ts", ".gitignore"]
 * ```
 */
export function initFiles(): Record<string, string> {
  const config = {
    imports: { "@mixtune/mixtune": `jsr:@mixtune/mixtune@^${VERSION}` },
    tasks: { pipeline: PIPELINE_TASK, report: REPORT_TASK },
  };
  return {
    "deno.json": JSON.stringify(config, null, 2) + "\n",
    "pipelines/quickstart.ts": STARTER_PIPELINE,
    ".gitignore": "runs/\n",
  };
}

/**
 * Writes the starter files into `args[0]` (default the current folder); returns the exit code (0 written,
 * 2 bad usage or a file already there).
 *
 * @example
 * ```ts
 * const dir = await Deno.makeTempDir();
 * console.log(await main([dir])); // 0: wrote deno.json, pipelines/quickstart.ts and .gitignore
 * console.log(await main([dir])); // 2: deno.json is already there, nothing written
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function main(args: string[]): Promise<number> {
  if (args[0] === "-h" || args[0] === "--help") {
    console.log(USAGE);
    return 0;
  }
  if (args.length > 1 || args[0]?.startsWith("-")) {
    console.error(`expected at most one folder, found ${args.join(" ")}\n${USAGE}`);
    return 2;
  }
  const dir = args[0] ?? ".";
  const files = initFiles();
  for (const name of Object.keys(files)) {
    if (await exists(`${dir}/${name}`)) {
      console.error(`${dir}/${name} already exists; nothing written`);
      return 2;
    }
  }
  await Deno.mkdir(`${dir}/pipelines`, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text, { createNew: true });
    console.log(`wrote ${dir}/${name}`);
  }
  console.log(`next: cd ${dir} && deno task pipeline`);
  return 0;
}

function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}

if (import.meta.main) Deno.exit(await main(Deno.args));

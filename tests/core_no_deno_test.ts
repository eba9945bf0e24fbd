/**
 * The core runs unchanged in a browser: no `Deno.` under the folders that describe and compute. Files,
 * processes and the CLI stay at the edges; data sources (src/data/sources/) are one, and the core reaches
 * files only through src/host/files.ts.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const CORE = ["dsl", "spec", "compile", "graph", "models", "adapters", "data", "gpu"];
const EDGES = ["data/sources/"];
/**
 * Files outside those folders that a page runs too: the training loop and the evaluation the CLI and the
 * page share, the streaming readers the page reads the reader's own files with, and the image folder reader.
 */
const SHARED = [
  "run/train_loop.ts",
  "run/batches.ts",
  "run/evaluate.ts",
  "run/greedy.ts",
  "run/validation.ts",
  "run/lr.ts",
  "run/finite.ts",
  "data/sources/_stream.ts",
  "data/sources/jsonl.ts",
  "data/sources/parquet.ts",
  "data/sources/records.ts",
  "data/sources/text_folder.ts",
  "data/sources/image_folder.ts",
  "data/sources/_image_decode.ts",
  "data/sources/_png_read.ts",
  "data/sources/_png_rgba.ts",
  "data/sources/_png_adam7.ts",
];
const SRC = fileURLToPath(new URL("../src/", import.meta.url));
const USE = /\bDeno\s*(\.|\[|\?\.)/;

/** Every .ts file under `dir` (relative to src/), sorted. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(SRC + dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...tsFiles(path));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** `file:line: text` for each line of `text` that uses Deno. */
function uses(file: string, text: string): string[] {
  return text.split("\n").flatMap((l, i) => USE.test(l) ? [`src/${file}:${i + 1}: ${l.trim()}`] : []);
}

Deno.test("the pattern finds Deno's uses and passes other words", () => {
  assert.deepEqual(uses("x.ts", "a\nawait Deno.readFile(p)\nconst c = Deno?.cwd()\nx = Deno['env']"), [
    "src/x.ts:2: await Deno.readFile(p)",
    "src/x.ts:3: const c = Deno?.cwd()",
    "src/x.ts:4: x = Deno['env']",
  ]);
  assert.deepEqual(uses("x.ts", "// runs under Deno, or in a browser\nconst Denominator = 2;"), []);
});

Deno.test("no Deno. under src/{dsl,spec,compile,graph,models,adapters,data,gpu} (src/data/sources/ is an edge)", () => {
  const found: string[] = [];
  let scanned = 0;
  for (const dir of CORE) {
    for (const file of tsFiles(dir)) {
      if (EDGES.some((e) => file.startsWith(e))) continue;
      scanned++;
      found.push(...uses(file, Deno.readTextFileSync(SRC + file)));
    }
  }
  assert.ok(scanned > 100, `only ${scanned} core files found under ${SRC}`);
  assert.deepEqual(found, [], `the core must reach files through src/host/files.ts:\n${found.join("\n")}`);
});

Deno.test("no Deno. in the training loop and the file readers the page shares with the CLI", () => {
  const found = SHARED.flatMap((file) => uses(file, Deno.readTextFileSync(SRC + file)));
  assert.deepEqual(found, [], `the page runs these files:\n${found.join("\n")}`);
});

/**
 * The page's files without a browser: MemoryFiles (paths, folders, reads at a position), the reader's files
 * added through OwnFiles, and the data sources reading them: a JSONL file, a text file and a folder of text
 * files and a folder of Parquet shards added to the page's files load into the same domains as the same files read from disk by the CLI's
 * code, and validation names a file the page lacks as it names one missing on disk.
 */
import assert from "node:assert/strict";
import { parquetWriteBuffer } from "hyparquet-writer";
import pngjs from "pngjs";
import type { Buffer } from "node:buffer";
import { denoFiles } from "../src/host/deno.ts";
import { useFiles } from "../src/host/files.ts";
import { DomainCache } from "../src/compile/domains.ts";
import { PipelineError } from "../src/spec/problem.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { parseYaml } from "../src/spec/yaml.ts";
import type { Domain } from "../src/data/mod.ts";
import { MemoryFiles } from "../src/web/page/memory_files.ts";
import { OwnFiles } from "../src/web/page/own_files.ts";

const YAML = `name: own
seed: 3
domains:
  mine: { source: { kind: jsonl, path: mine.jsonl }, transforms: [{ kind: split, validation: 0.1 }] }
  notes: { source: { kind: text, path: notes.txt }, transforms: [{ kind: split, validation: 0.1 }] }
  folder: { source: { kind: text, path: texts }, transforms: [{ kind: split, validation: 0.2 }] }
  table: { source: { kind: parquet, path: pq }, transforms: [{ kind: split, validation: 0.2 }] }
model: { backbone: lm, context: 16, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }
stages:
  t:
    kind: train
    mix: { domains: [mine, notes, folder, table], strategy: temperature, temperature: 2 }
    loss: { kind: lm }
    optimizer: { kind: adamw, lr: 1.0e-3 }
    steps: 2
    batch: 4
`;

/** The files, with a chunk boundary (1 MiB) inside a JSONL line and a multi-byte character. */
function contents(): Record<string, Uint8Array> {
  const enc = new TextEncoder();
  const long = "ü".repeat(300_000); // 600,000 bytes of UTF-8
  const records = [
    JSON.stringify({ text: `first ${long}` }),
    JSON.stringify({ text: `second ${long}` }),
    ...Array.from(
      { length: 200 },
      (_, i) => JSON.stringify({ text: `record ${i}: ${"abc ".repeat(i % 17)}` }),
    ),
  ];
  return {
    "mine.jsonl": enc.encode(records.join("\n") + "\n"),
    "notes.txt": enc.encode(Array.from({ length: 300 }, (_, i) => `line ${i} of the notes`).join("\n")),
    "texts/b.txt": enc.encode("the second file, read after a.txt\n".repeat(40)),
    "texts/a.txt": enc.encode("the first file of the folder\n".repeat(50)),
    "texts/.hidden": enc.encode("never read"),
    // a dataset's Parquet shards, read in name order, several row groups each
    "pq/train-00001-of-00002.parquet": parquet(40, 60),
    "pq/train-00000-of-00002.parquet": parquet(0, 40),
  };
}

/** Rows `from` to `to` of a table of texts and numbers, in row groups of 16. */
function parquet(from: number, to: number): Uint8Array {
  const rows = Array.from({ length: to - from }, (_, i) => from + i);
  return new Uint8Array(parquetWriteBuffer({
    columnData: [
      { name: "text", data: rows.map((i) => `row ${i}: ${"xyz ".repeat(i % 7)}`), type: "STRING" },
      { name: "n", data: rows.map((i) => i), type: "INT32" },
    ],
    rowGroupSize: 16,
  }));
}

/** What `f` throws (undefined when it returns). */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

function same(a: Domain, b: Domain, name: string): void {
  assert.equal(a.kind, "text", name);
  assert.equal(b.kind, "text", name);
  if (a.kind !== "text" || b.kind !== "text") return;
  assert.deepEqual(a.train, b.train, `${name} train`);
  assert.deepEqual(a.validation, b.validation, `${name} validation`);
  assert.ok(a.train.length > 0, `${name} is empty`);
}

Deno.test("MemoryFiles: normalized paths, folders, reads at a position, not found", async () => {
  const m = new MemoryFiles();
  await m.writeFile("/a/b.txt", new TextEncoder().encode("hello"));
  await m.writeFile("./a/c/d.txt", new Uint8Array([1, 2, 3]));
  assert.ok(m.has("a/b.txt") && m.has("/a/./b.txt") && m.has("a//b.txt"));
  assert.equal(m.readTextFileSync("a/b.txt"), "hello");
  assert.deepEqual(m.statSync("a"), { isFile: false, isDirectory: true, size: 0, mtime: null });
  assert.equal(m.statSync("/a/b.txt").size, 5);
  assert.deepEqual(m.readDirSync("a"), [
    { name: "b.txt", isFile: true, isDirectory: false },
    { name: "c", isFile: false, isDirectory: true },
  ]);
  assert.deepEqual((await Array.fromAsync(m.readDir("/"))).map((e) => e.name), ["a"]);
  const f = m.openSync("a/c/d.txt");
  const into = new Uint8Array(2);
  assert.equal(f.readAt(into, 1), 2);
  assert.deepEqual([...into], [2, 3]);
  assert.equal(f.readAt(into, 3), 0);
  for (const call of [() => m.statSync("a/x"), () => m.readFileSync("nope"), () => m.readDirSync("a/b")]) {
    assert.throws(call);
  }
  assert.ok(m.notFound(thrown(() => m.statSync("missing"))));
  // writes are copies: a caller's later change to its array is not the file's
  const bytes = new Uint8Array([9]);
  await m.writeFile("x", bytes);
  bytes[0] = 0;
  assert.equal(m.readFileSync("x")[0], 9);
});

/** Writes each file of `files` (paths relative to `dir`) under `dir`, making its folders. */
async function writeTree(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  for (const [path, bytes] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
    await Deno.writeFile(`${dir}/${path}`, bytes);
  }
}

Deno.test("the reader's files added to the page load into the domains the CLI loads from disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_web_files_" });
  const cwd = Deno.cwd();
  try {
    const files = contents();
    await writeTree(dir, files);
    const { value, locations } = parseYaml(YAML, "own.yaml");

    // the CLI's way: Deno's files, paths relative to the working folder
    Deno.chdir(dir);
    useFiles(denoFiles());
    const diskSpec = validatePipeline(value, { locations, file: "own.yaml", files: true });
    const disk = new DomainCache(diskSpec);
    await disk.load();
    // away from the files on disk: the page's reads must come from its memory
    Deno.chdir(cwd);

    // the page's way: the same files picked (a folder's under its relative path), in the page's memory
    const memory = new MemoryFiles();
    useFiles(memory);
    const own = new OwnFiles(memory);
    const missing = thrown(() => validatePipeline(value, { locations, file: "own.yaml", files: true }));
    assert.ok(missing instanceof PipelineError);
    assert.match(missing.format(), /^own\.yaml:4:\d+ domains\.mine\.source\.path: expected an existing file/);
    const picked = Object.entries(files).map(([path, bytes]) => {
      const name = path.split("/").at(-1)!;
      const file = new File([bytes as Uint8Array<ArrayBuffer>], name);
      return path.includes("/") ? Object.assign(file, { webkitRelativePath: path }) : file;
    });
    assert.deepEqual(await own.addPicked(picked), Object.keys(files));
    const digest = await own.digest();
    assert.match(digest, /^[0-9a-f]{64}$/);
    const pageSpec = validatePipeline(value, { locations, file: "own.yaml", files: true });
    const page = new DomainCache(pageSpec);
    await page.load();
    for (const name of ["mine", "notes", "folder", "table"]) same(page.get(name), disk.get(name), name);

    // another file under the same name changes the digest saved stages are keyed by
    await own.addPicked([new File(['{"text": "other"}\n'], "mine.jsonl")]);
    assert.notEqual(await own.digest(), digest);
  } finally {
    useFiles(denoFiles());
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

/** A PNG of `side` x `side` RGBA pixels drawn from `seed` (pngjs's encoder; the readers decode with fast-png). */
function png(side: number, seed: number): Uint8Array {
  const image = new pngjs.PNG({ width: side, height: side });
  for (let i = 0; i < image.data.length; i++) image.data[i] = (seed * 97 + i * 31) % 256;
  return new Uint8Array(pngjs.PNG.sync.write(image as unknown as Buffer));
}

Deno.test("a picked image folder loads into the page as the CLI loads it from disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_web_images_" });
  const cwd = Deno.cwd();
  const yaml = `name: imgs
seed: 2
domains:
  faces: { source: { kind: images, path: people }, transforms: [{ kind: split, validation: 0.25 }] }
model: { backbone: vit, image: 28, patch: 7, dim: 16, depth: 1, heads: 2, mlpRatio: 2, embedDim: 8, classes: 3 }
stages:
  t:
    kind: train
    mix: { domains: [faces], strategy: temperature }
    loss: { kind: cosface, scale: 16, margin: 0.2 }
    optimizer: { kind: adamw, lr: 1.0e-3 }
    steps: 2
    batch: 4
`;
  // three classes, images of other sizes than the model's (resized), one class folder deeper in the tree
  const files: Record<string, Uint8Array> = {};
  ["ada", "bo", "cy"].forEach((person, c) => {
    for (let k = 0; k < 4; k++) files[`people/${person}/${k}.png`] = png(20 + 4 * c + k, 10 * c + k);
  });
  try {
    await writeTree(dir, files);
    const { value, locations } = parseYaml(yaml, "imgs.yaml");
    Deno.chdir(dir);
    useFiles(denoFiles());
    const disk = new DomainCache(validatePipeline(value, { locations, file: "imgs.yaml", files: true }));
    await disk.load();
    Deno.chdir(cwd);

    const memory = new MemoryFiles();
    useFiles(memory);
    const own = new OwnFiles(memory);
    const picked = Object.entries(files).map(([path, bytes]) =>
      Object.assign(new File([bytes as Uint8Array<ArrayBuffer>], path.split("/").at(-1)!), {
        webkitRelativePath: path,
      })
    );
    await own.addPicked(picked);
    const page = new DomainCache(validatePipeline(value, { locations, file: "imgs.yaml", files: true }));
    await page.load();
    const a = page.get("faces");
    const b = disk.get("faces");
    assert.equal(a.kind, "images");
    assert.equal(b.kind, "images");
    if (a.kind !== "images" || b.kind !== "images") return;
    assert.deepEqual([a.images, a.labels, a.side], [b.images, b.labels, b.side]);
    assert.deepEqual(a.validation, b.validation);
    assert.equal(a.labels.length + a.validation.labels.length, 12);
    assert.ok(a.images.some((v) => v > 0), "the images decoded to black");
  } finally {
    useFiles(denoFiles());
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

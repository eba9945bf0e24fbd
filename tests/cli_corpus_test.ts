import assert from "node:assert/strict";
import { stringify } from "yaml";
import { checkPipeline } from "../src/spec/validate.ts";
import {
  type BadInput,
  BASE,
  fileCases,
  fileFormatCases,
  flagCases,
  LM,
  moduleCases,
  referenceCases,
  specCases,
} from "./_bad_input_corpus.ts";
import { type CliResult, mainOutput, ROOT } from "./fixtures/helpers.ts";

const dir = await Deno.makeTempDir({ prefix: "mixtune_corpus_" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let count = 0;

async function writeCase(c: BadInput): Promise<string> {
  const file = `${dir}/case${count++}.${c.ext ?? "yaml"}`;
  const content = c.content;
  if (content instanceof Uint8Array) await Deno.writeFile(file, content);
  else await Deno.writeTextFile(file, typeof content === "string" ? content : stringify(content.spec));
  return file;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Why `r` is not a proper bad-input answer for `c` (empty when it is). */
function faults(c: BadInput, file: string, r: CliResult): string[] {
  const out: string[] = [];
  if (r.code !== 2) out.push(`exit ${r.code}`);
  if (r.stdout !== "") out.push("printed to stdout");
  const lines = r.stderr.replace(/\n$/, "").split("\n");
  if (r.stderr === "" || lines.length > 101) out.push(`${lines.length} lines`);
  const place = new RegExp(`^(${escape(file)}(:\\d+:\\d+)? (.+?): |(--[a-z]+)[: ])`);
  let named = false;
  for (const line of lines) {
    const m = place.exec(line);
    if (!m) out.push(`no place: ${line.slice(0, 120)}`);
    if (/^\s+at /.test(line) || /\bat file:\/\/\S+:\d+:\d+\)?$/.test(line) && !/\(at /.test(line)) {
      out.push(`stack line: ${line.slice(0, 120)}`);
    }
    if (line.length > 400) out.push(`line of ${line.length} characters`);
    const where = m?.[3] ?? m?.[4] ?? "";
    // the problem is at the key named or on its branch (a parent, or a child of it)
    if (where === c.names || where.startsWith(c.names) || c.names.startsWith(where) && where !== "") {
      named = true;
    }
  }
  if (!named) out.push(`does not name ${c.names}`);
  if ((r.stderr.match(/s3cr3t/g) ?? []).length > 5) out.push("echoes the file");
  return out;
}

const cases: BadInput[] = [
  ...specCases(),
  ...referenceCases(),
  ...fileCases(),
  ...fileFormatCases(),
  ...moduleCases(),
  ...flagCases(),
];

Deno.test("the corpus starts from valid pipelines", () => {
  assert.deepEqual(checkPipeline(BASE), []);
  assert.deepEqual(checkPipeline(LM), []);
});

Deno.test(`${cases.length} broken inputs: each exit 2, one line per problem with its place, no stack, no echo`, async () => {
  assert.ok(cases.length >= 150, `${cases.length} cases`);
  const failed: string[] = [];
  for (const c of cases) {
    const file = await writeCase(c);
    // --plan: a case that wrongly passes validation is planned, never trained
    const r = await mainOutput([file, ...(c.args ?? ["--plan"])]);
    const f = faults(c, file, r);
    if (f.length > 0) failed.push(`${c.label}: ${f.join("; ")}\n  ${r.stderr.slice(0, 300)}`);
  }
  console.log(`bad-input corpus: ${cases.length - failed.length} of ${cases.length} pass`);
  assert.deepEqual(failed, []);
});

/** The CLI as `deno task pipeline` runs it: the task's own permissions, from the repository root. */
async function taskCli(args: string[]): Promise<CliResult> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=runs",
      "--allow-env",
      "--allow-ffi",
      "--allow-sys",
      "src/cli/main.ts",
      ...args,
    ],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

Deno.test("a handful of the corpus as real processes with the task's permissions, and --out outside runs/", async () => {
  const picks = [
    cases.find((c) => c.label === "UTF-16 LE with BOM")!,
    cases.find((c) => c.label === "throws a Proxy")!,
    cases.find((c) => c.label === "syntax error")!,
    cases.find((c) => c.label === "float32 overflow stages.pre.optimizer.lr")!,
    cases.find((c) => c.label === "--stage constructor")!,
  ];
  for (const c of picks) {
    const file = await writeCase(c);
    const f = faults(c, file, await taskCli([file, ...(c.args ?? ["--plan"])]));
    assert.deepEqual(f, [], c.label);
  }
  const file = await writeCase({ label: "lm", content: { spec: LM }, names: "" });
  const out = `${dir}/out`;
  const r = await taskCli([file, "--out", out, "--steps", "1"]);
  assert.deepEqual(r, {
    code: 2,
    stdout: "",
    stderr: `--out ${out}: no permission to write there (deno task pipeline writes only under runs/); run ` +
      `deno run --allow-read --allow-write=${out} --allow-env --allow-ffi --allow-sys src/cli/main.ts ` +
      `${file} --out ${out} --steps 1\n`,
  });
  assert.equal(await Deno.stat(out).then(() => true, () => false), false);
});

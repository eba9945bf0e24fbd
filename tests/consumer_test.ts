/**
 * mixtune as a user of the published package gets it: the files `deno publish --dry-run` lists, copied into a
 * temporary Deno workspace next to a consumer project set up by the `init` entry. From the consumer's folder
 * (no node_modules anywhere) a script imports `@mixtune/mixtune` by name and plans and runs a pipeline on
 * `dictionary` data, and the `pipeline` and `report` tasks that `init` wrote run the starter on `mnist` data.
 * After one `deno cache` of the entries, every run is `--cached-only`: the built-in data must come from Deno's
 * cache, fetched there with the module graph.
 */
import assert from "node:assert/strict";
import { testDevice } from "./_harness.ts";
import { ROOT } from "./fixtures/helpers.ts";
import { PIPELINE_TASK, REPORT_TASK } from "../src/cli/tasks.ts";
import { VERSION } from "../src/version.ts";

const text = new TextDecoder();

async function deno(args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1", ...env },
    stdin: "null",
  }).output();
  const out = text.decode(stdout);
  if (code !== 0) throw new Error(`deno ${args.join(" ")} exited ${code}\n${out}\n${text.decode(stderr)}`);
  return out;
}

/** The files `deno publish --dry-run` would upload, relative to the repository root. */
async function publishedFiles(): Promise<string[]> {
  const { code, stderr, stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  const out = text.decode(stdout) + text.decode(stderr);
  assert.equal(code, 0, out);
  const prefix = `file://${ROOT}`;
  return out.split("\n").map((l) => l.trim()).filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length).replace(/ \([^)]*\)$/, ""));
}

const DICTIONARY_SCRIPT = `import {
  adamw, consoleLogger, dictionary, evaluate, lm, lmLoss, pipeline, planPipeline, runPipeline, split, take,
  temperature, train,
} from "@mixtune/mixtune";

const spec = pipeline("words")
  .seed(2)
  .domain("vi", dictionary("vi"), take(4000), split(0.1))
  .domain("es", dictionary("es"), take(4000), split(0.1))
  .model(lm({ context: 16, dim: 16, depth: 1, heads: 2, mlpRatio: 2 }))
  .stage("t5", train({ mix: temperature(["vi", "es"], 5), loss: lmLoss(), optimizer: adamw({ lr: 1e-3 }), steps: 4, batch: 4 }))
  .stage("check", evaluate({ from: "t5", tasks: ["validation_loss"] }))
  .build();
const plan = await planPipeline(spec);
const result = await runPipeline(spec, { out: "runs", log: consoleLogger(true), plan });
console.log(JSON.stringify({
  planned: plan.stages.map((s) => [s.name, s.kind]),
  sizes: plan.stages[0].sampling?.domains.map((d) => [d.name, d.size]),
  root: result.root,
  stages: result.stages.map((s) => [s.name, s.dir.replace(/-[0-9a-f]{8}$/, ""), s.cached]),
  report: result.report,
  metrics: Object.keys(result.stages[1].summary.metrics as object),
}));
`;

Deno.test("the published files, in a workspace beside a consumer, plan and run pipelines from the consumer's folder", async () => {
  if (!await testDevice()) return;
  const files = await publishedFiles();
  for (const f of ["mod.ts", "deno.json", "src/cli/main.ts", "src/cli/init.ts", "kernels/matmul.wgsl"]) {
    assert.ok(files.includes(f), `${f} is published`);
  }
  assert.deepEqual(files.filter((f) => /^(tests|bench|pipelines|node_modules)\//.test(f)), []);

  const ws = await Deno.makeTempDir({ prefix: "mixtune_consumer_" });
  try {
    for (const f of files) {
      await Deno.mkdir(`${ws}/mixtune/${f}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.copyFile(`${ROOT}${f}`, `${ws}/mixtune/${f}`);
    }
    // init, run by name from the workspace root, then the new project joins the workspace
    const workspace = (members: string[]) =>
      Deno.writeTextFile(`${ws}/deno.json`, JSON.stringify({ workspace: members }));
    await workspace(["./mixtune"]);
    const app = `${ws}/app`;
    await deno(["run", "--allow-read", "--allow-write=app", "@mixtune/mixtune/init", "app"], ws);
    await workspace(["./mixtune", "./app"]);

    const config = JSON.parse(await Deno.readTextFile(`${app}/deno.json`));
    assert.deepEqual(config, {
      imports: { "@mixtune/mixtune": `jsr:@mixtune/mixtune@^${VERSION}` },
      tasks: { pipeline: PIPELINE_TASK, report: REPORT_TASK },
    });
    assert.equal(await Deno.readTextFile(`${app}/.gitignore`), "runs/\n");
    // JSR is not reachable here: the workspace member provides @mixtune/mixtune instead of the import.
    await Deno.writeTextFile(`${app}/deno.json`, JSON.stringify({ tasks: config.tasks }, null, 2));
    await Deno.writeTextFile(`${app}/words.ts`, DICTIONARY_SCRIPT);

    // the entries' graphs (deno cache takes files, not package names)
    await deno([
      "cache",
      "words.ts",
      "pipelines/quickstart.ts",
      "../mixtune/src/cli/main.ts",
      "../mixtune/src/report/main.ts",
    ], app);
    // From here on, nothing may be fetched: each task's own command line, with --cached-only added.
    const task = (name: "pipeline" | "report", args: string[]): Promise<string> => {
      const [run, ...rest] = config.tasks[name].split(" ").slice(1);
      return deno([run, "--cached-only", ...rest, ...args], app);
    };
    const words = JSON.parse(
      await deno(
        [
          "run",
          "--cached-only",
          "--allow-read",
          "--allow-write=runs",
          "--allow-env",
          "--allow-sys",
          "words.ts",
        ],
        app,
      ),
    );
    assert.deepEqual(words, {
      planned: [["t5", "train"], ["check", "evaluate"]],
      // 4,000 bytes, 10% held out: 3,600 training bytes, 224 windows of 16 bytes (+1 target byte)
      sizes: [["vi", 224], ["es", 224]],
      root: "runs/words",
      stages: [["t5", "t5", false], ["check", "check", false]],
      report: "runs/words/report.html",
      metrics: ["validation_loss/vi", "validation_loss/es"],
    });

    const plan = await task("pipeline", ["--plan"]);
    assert.match(plan, /^pipeline starter /);
    const run = await task("pipeline", ["--steps", "4"]);
    assert.match(run, /rank-1/);
    const runJson = JSON.parse(await Deno.readTextFile(`${app}/runs/starter/run.json`));
    assert.deepEqual(runJson.stages.map((s: { name: string }) => s.name), [
      "pretrain",
      "before",
      "finetune",
      "after",
    ]);
    assert.equal(
      (await task("report", ["runs/starter"])).trim(),
      "wrote runs/starter/report.html",
    );
    for (const dir of [ws, app]) {
      assert.ok(!(await exists(`${dir}/node_modules`)), `no node_modules in ${dir}`);
    }
  } finally {
    await Deno.remove(ws, { recursive: true });
  }
});

Deno.test("the repository's own tasks use the permissions init writes", async () => {
  // deno.json may hold line comments
  const tasks = JSON.parse((await Deno.readTextFile(`${ROOT}deno.json`)).replace(/^\s*\/\/.*$/gm, "")).tasks;
  assert.equal(tasks.pipeline, PIPELINE_TASK.replace("@mixtune/mixtune/cli", "src/cli/main.ts"));
  assert.equal(tasks.report, REPORT_TASK.replace("@mixtune/mixtune/report", "src/report/main.ts"));
});

function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}

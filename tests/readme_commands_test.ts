/**
 * Every command the README shows, run end to end as a new user would run it, in the README's order: the
 * default example, the corpus loading bench (on 2 MB), the GPT-2 pair and `generate`, the sweeps and their
 * table scripts (the instruction-tuning sweep after its data script, whose base is then pretrained 4 steps),
 * `cooldown_variance.ts`, and each verb of the Commands block (`report`, `merge`, `bench`). The commands are read from the README
 * itself: a command added there without an entry here fails the test, as does an entry whose command is
 * gone. Outputs go to `runs/readme-test/` (the README's `runs/` is replaced by it); sweeps run with
 * `--steps 4` (the full ones take 10 to 30 minutes), the default example and the GPT-2 pair at the README's
 * own settings, so their tables are compared with the README's.
 */
import assert from "node:assert/strict";
import { ROOT } from "./fixtures/helpers.ts";
import { testDevice } from "./_harness.ts";
import { gpu } from "../src/gpu/device.ts";

const OUT = "runs/readme-test";
const README = await Deno.readTextFile(`${ROOT}README.md`);
const decoder = new TextDecoder();

/** The lines of the README's `sh` blocks that run something, without their trailing comments. */
function readmeCommands(text: string): string[] {
  const blocks = [...text.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  return blocks.flatMap((b) => b.split("\n"))
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** The verbs of the Commands block's usage lines (`deno task pipeline [FILE] ...` gives `pipeline`). */
function usageVerbs(text: string): string[] {
  const block = text.split("## Commands")[1].split("```")[1];
  return [...block.matchAll(/^deno task (\S+)/gm)].map((m) => m[1]);
}

interface Ran {
  stdout: string;
  stderr: string;
}

/** Runs one shell line from the repository root; fails with its output unless it exits 0. */
async function sh(line: string): Promise<Ran> {
  const { code, stdout, stderr } = await new Deno.Command("bash", {
    args: ["-c", line],
    cwd: ROOT,
    env: { XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const ran = { stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  assert.equal(code, 0, `${line}\nexited ${code}\n${ran.stdout.slice(-3000)}\n${ran.stderr.slice(-3000)}`);
  return ran;
}

/** The README line with its `runs/` folder moved to the test's. */
const moved = (line: string): string => line.replaceAll("runs/", `${OUT}/`);

async function assertFiles(dir: string, names: string[]): Promise<void> {
  for (const n of names) {
    const info = await Deno.stat(`${ROOT}${dir}/${n}`).catch(() => undefined);
    assert.ok(info?.isFile && info.size > 0, `${dir}/${n} is missing or empty`);
  }
}

/** The one folder matching `<dir>/<prefix>*`; the test's runs hold exactly one per stage unless said. */
async function folders(dir: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
    if (e.isDirectory && e.name.startsWith(prefix)) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

/** The Markdown table that follows `heading` in the README: its rows as arrays of trimmed cells. */
/** Where `phrase` starts in the README, wherever the formatter broke its lines. */
function readmeIndex(phrase: string): number {
  const escaped = phrase.split(/\s+/).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const at = README.search(new RegExp(escaped.join("\\s+")));
  assert.ok(at >= 0, `README has no "${phrase}"`);
  return at;
}

function readmeTable(after: string): string[][] {
  const start = readmeIndex(after);
  const lines = README.slice(start).split("\n");
  const first = lines.findIndex((l) => l.startsWith("|"));
  const rows = [];
  for (let i = first; i < lines.length && lines[i].startsWith("|"); i++) rows.push(cells(lines[i]));
  return rows.filter((r) => !r.every((c) => /^:?-+:?$/.test(c)));
}

function cells(line: string): string[] {
  return line.trim().replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
}

/** A sweep's table as the script printed it: its header row, and the first cell of every row. */
function tableShape(text: string, header: string): { header: string[]; rows: string[] } {
  const lines = text.split("\n");
  const at = lines.findIndex((l) => l.startsWith("|") && cells(l)[0] === header);
  assert.ok(at >= 0, `no table headed "${header}" in\n${text}`);
  const rows = [];
  for (let i = at + 2; i < lines.length && lines[i].startsWith("|"); i++) rows.push(cells(lines[i])[0]);
  return { header: cells(lines[at]), rows };
}

/**
 * Whether this machine's adapter is the one the README names just before `heading` (as "on ADAPTER"). Seeded
 * runs repeat bit for bit on one adapter, and hundreds of Adam steps amplify a difference in the last bit of
 * a float32 sum, so a README table is compared digit for digit on the adapter that made it; elsewhere the test
 * says that it cannot compare, and why.
 */
async function onReadmeAdapter(heading: string): Promise<boolean> {
  const before = README.slice(0, readmeIndex(heading));
  const named = [...before.replace(/\s+/g, " ").matchAll(/ on (llvmpipe \([^)]*\))/g)].at(-1)?.[1];
  assert.ok(named, `the README names no adapter before "${heading}"`);
  const here = (await gpu()).adapter.description;
  if (here === named) return true;
  console.warn(`README table after "${heading}" was made on ${named}; this adapter is ${here}: not compared`);
  return false;
}

/** The README table's header and row titles equal the script's on a small sweep (the numbers differ). */
function assertSameShape(printed: string, readmeHeading: string, header: string): void {
  const want = readmeTable(readmeHeading);
  const got = tableShape(printed, header);
  assert.deepEqual(got.header, want[0]);
  assert.deepEqual(got.rows, want.slice(1).map((r) => r[0]));
}

/**
 * How each README command is run, in the README's order. `readme` is the command as the README writes it;
 * `run` does it (with the test's folder and, for sweeps, `--steps 4`) and checks what it says it writes.
 */
const COMMANDS: { readme: string; run?: () => Promise<void>; why?: string }[] = [
  {
    readme: "bash .ci/setup && deno task pipeline",
    // .ci/setup ran before the tests; the default example runs at its own settings
    run: async () => {
      const { stdout } = await sh(`deno task pipeline --out ${OUT}`);
      await assertFiles(`${OUT}/quickstart`, ["run.json", "report.html"]);
      for (const stage of ["pretrain", "before", "finetune", "after"]) {
        const [dir] = await folders(`${OUT}/quickstart`, `${stage}-`);
        assert.ok(dir, `no ${stage} stage folder`);
        await assertFiles(dir, ["summary.json"]);
      }
      // the README's table: rank-1 % before and after the adapters, to its one decimal
      const rank1 = (stage: string) => {
        const table = stdout.split(`${stage}: recognition`)[1].split("\n\n")[0];
        return ["old_hr", "new_lr", "new_mixed"].map((set) =>
          Number(table.split("\n").find((l) => l.startsWith(set + " "))!.trim().split(/\s+/)[1]).toFixed(1)
        );
      };
      const want = readmeTable("The final tables of those runs").slice(1).map((r) => r.slice(1));
      if (await onReadmeAdapter("The final tables of those runs")) {
        assert.deepEqual([rank1("before"), rank1("after")], want);
      }
    },
  },
  { readme: "bash .ci/setup && deno task test", why: "the command this test runs inside" },
  {
    readme: "XDG_RUNTIME_DIR=/tmp deno run -A bench/corpus_load.ts",
    // 2 MB instead of 210: the same two loads, each in its own process, and the tokenizer comparison
    run: async () => {
      const { stdout } = await sh(
        `XDG_RUNTIME_DIR=/tmp deno run -A bench/corpus_load.ts --mb 2 --compare-mb 0.2 --out ${OUT}/corpus_bench`,
      );
      assert.match(stdout, /\nfirst load : [\d.]+ s .*, tokenized\n/, stdout);
      assert.match(stdout, /\nsecond load: [\d.]+ s .*, from the token cache\n/, stdout);
      assert.match(stdout, /ids identical/, stdout);
    },
  },
  {
    readme: "XDG_RUNTIME_DIR=/tmp deno run -A pipelines/gpt2_pretrain.ts",
    run: async () => {
      const { stdout } = await sh(`XDG_RUNTIME_DIR=/tmp deno run -A pipelines/gpt2_pretrain.ts --out ${OUT}`);
      assert.match(stdout, new RegExp(`${OUT}/gpt2/hf written \\(Hugging Face GPT-2 layout\\)`));
      await assertFiles(`${OUT}/gpt2/hf`, ["config.json", "model.safetensors"]);
    },
  },
  {
    readme: "XDG_RUNTIME_DIR=/tmp deno run -A pipelines/gpt2_adapt.ts",
    run: async () => {
      const { stdout } = await sh(`XDG_RUNTIME_DIR=/tmp deno run -A pipelines/gpt2_adapt.ts --out ${OUT}`);
      const printed = stdout.split("\n").filter((l) => /^\| (pretrained|\+ LoRA)/.test(l)).map(cells);
      const want = readmeTable("| perplexity (per byte)").slice(1);
      assert.equal(printed.length, 2, stdout);
      if (await onReadmeAdapter("| perplexity (per byte)")) {
        assert.deepEqual(printed.map((r) => r.slice(1)), want.map((r) => r.slice(1)));
      } else {
        for (const v of printed.flatMap((r) => r.slice(1))) assert.ok(Number(v) > 1, stdout);
      }
      await assertFiles((await folders(`${OUT}/gpt2_adapt`, "adapt-"))[0] + "/adapter", [
        "adapter_config.json",
        "adapter_model.safetensors",
      ]);
    },
  },
  {
    readme:
      "deno task generate runs/gpt2/hf --adapter runs/gpt2_adapt/adapt-*/adapter --prompt ng --max-new 24 --temperature 0.8 --seed 1",
    run: async () => {
      const { stdout } = await sh(
        moved(
          "deno task generate runs/gpt2/hf --adapter runs/gpt2_adapt/adapt-*/adapter --prompt ng --max-new 24 --temperature 0.8 --seed 1",
        ),
      );
      assert.ok(stdout.startsWith("ng") && stdout.trim().length > 2, stdout);
    },
  },
  {
    readme: "deno run --allow-read --allow-write jsr:@mixtune/mixtune/init my-experiments",
    why: "tests/consumer_test.ts runs `init` from the package's published files (JSR is not reachable here)",
  },
  {
    readme: "cd my-experiments && deno task pipeline",
    why: "tests/consumer_test.ts runs the pipeline and report tasks `init` wrote, in the project it made",
  },
  {
    readme: "deno task web",
    why: "it serves until stopped; tests/web_browser_test.ts serves the same build and drives it in Chromium",
  },
  {
    readme: "deno task web --build site",
    run: async () => {
      await sh(`deno task web --build ${OUT}/site`);
      await assertFiles(`${OUT}/site`, [
        "index.html",
        "app.js",
        "pipelines/index.json",
        "pipelines/quickstart.yaml",
      ]);
    },
  },
  {
    readme: "deno task sweep pipelines/cooldown.ts --jobs 2",
    run: async () => {
      await sh(`deno task sweep pipelines/cooldown.ts --jobs 2 --steps 4 --out ${OUT}`);
      await assertFiles(`${OUT}/cooldown`, ["sweep.json", "sweep.md", "sweep.html"]);
    },
  },
  {
    readme: "deno run --allow-read pipelines/cooldown_table.ts",
    run: async () => {
      const { stdout } = await sh(
        `deno run --allow-read pipelines/cooldown_table.ts ${OUT}/cooldown/sweep.json`,
      );
      assertSameShape(stdout, "Final validation loss (nats per byte), mean ± std over", "method");
      assertSameShape(stdout, "of the largest (el) and smallest (vi) language:", "step");
    },
  },
  {
    readme:
      "XDG_RUNTIME_DIR=/tmp deno run -A pipelines/cooldown_variance.ts --batches 400 --weights runs/cooldown/t5-HASH/weights.safetensors",
    run: async () => {
      const t5 = (await folders(`${OUT}/cooldown`, "t5-"))[0];
      const { stdout } = await sh(
        `XDG_RUNTIME_DIR=/tmp deno run -A pipelines/cooldown_variance.ts --batches 4 --weights ${t5}/weights.safetensors`,
      );
      assert.match(stdout, /\nscalarization \/ sampling: Var\(‖g‖\) ratio \S+ \(bootstrap 95%: /);
    },
  },
  {
    readme: "deno task sweep pipelines/cooldown_overfit.ts --jobs 2",
    run: async () => {
      await sh(`deno task sweep pipelines/cooldown_overfit.ts --jobs 2 --steps 4 --out ${OUT}`);
      await assertFiles(`${OUT}/cooldown_overfit`, ["sweep.json", "sweep.md", "sweep.html"]);
    },
  },
  {
    readme: "deno run --allow-read pipelines/cooldown_overfit_table.ts",
    run: async () => {
      const { stdout } = await sh(
        `deno run --allow-read pipelines/cooldown_overfit_table.ts ${OUT}/cooldown_overfit/sweep.json`,
      );
      assertSameShape(stdout, "run's curve:", "method");
    },
  },
  {
    readme: "XDG_RUNTIME_DIR=/tmp deno run -A pipelines/sft_mix_data.ts",
    run: async () => {
      const { stdout } = await sh(
        `XDG_RUNTIME_DIR=/tmp deno run -A pipelines/sft_mix_data.ts --steps 4 --out ${OUT}`,
      );
      assert.match(stdout, /sft_mix_data\/base: the pretrained chat model/, stdout);
      await assertFiles(`${OUT}/sft_mix_data`, [
        "translit_ru.jsonl",
        "upper_fr.jsonl",
        "translit_el.jsonl",
        "pretrain.txt",
      ]);
      await assertFiles(`${OUT}/sft_mix_data/base`, [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
    },
  },
  {
    readme: "deno task sweep pipelines/sft_mix.ts --jobs 2",
    // the pipeline reads runs/sft_mix_data; here the data the command above wrote in the test's folder
    run: async () => {
      await sh(
        `SFT_MIX_DATA=${OUT}/sft_mix_data deno task sweep pipelines/sft_mix.ts --jobs 2 --steps 4 --out ${OUT}`,
      );
      await assertFiles(`${OUT}/sft_mix`, ["sweep.json", "sweep.md", "sweep.html"]);
    },
  },
  {
    readme: "deno run --allow-read pipelines/sft_mix_table.ts",
    run: async () => {
      const { stdout } = await sh(
        `deno run --allow-read pipelines/sft_mix_table.ts ${OUT}/sft_mix/sweep.json`,
      );
      assertSameShape(stdout, "Exact match on the 100 held-out examples of each task", "exact match %");
      assertSameShape(stdout, "Response loss of the same examples", "response loss (nats per token)");
    },
  },
  {
    readme: "deno task sweep pipelines/petalface.ts --jobs 2",
    run: async () => {
      await sh(`deno task sweep pipelines/petalface.ts --jobs 2 --steps 4 --out ${OUT}`);
      await assertFiles(`${OUT}/petalface`, ["sweep.json", "sweep.md", "sweep.html"]);
    },
  },
  {
    readme: "deno run --allow-read pipelines/petalface_table.ts",
    run: async () => {
      const { stdout } = await sh(`deno run --allow-read pipelines/petalface_table.ts ${OUT}/petalface`);
      assertSameShape(
        stdout,
        "the share of\nweights trained is from the pipeline's plan:",
        "model (share of weights trained)",
      );
      assert.match(stdout, /ONNX \(onnxruntime CPU\) against WebGPU, 3 exports/);
    },
  },
];

/** The Commands block's verbs not run above, each run here on the folders the commands above wrote. */
const VERBS: Record<string, { run?: () => Promise<void>; why?: string }> = {
  pipeline: { why: "the default example above" },
  sweep: { why: "the sweeps above" },
  generate: { why: "the GPT-2 example above" },
  test: { why: "the command this test runs inside" },
  report: {
    run: async () => {
      await Deno.remove(`${ROOT}${OUT}/quickstart/report.html`);
      await sh(`deno task report ${OUT}/quickstart`);
      await assertFiles(`${OUT}/quickstart`, ["report.html"]);
    },
  },
  merge: {
    run: async () => {
      const [stage] = await folders(`${OUT}/quickstart`, "finetune-");
      await sh(`deno task merge ${stage} --out ${OUT}/merged`);
      await assertFiles(`${OUT}/merged`, ["config.json", "model.safetensors"]);
    },
  },
  web: { why: "`deno task web --build site` above" },
  bench: {
    run: async () => {
      const { stdout } = await sh(
        "deno task bench --json --steps 1 --warmup 1 --no-peers --no-packed --no-f16 --no-scaling --no-lm --no-lm-loss",
      );
      assert.ok(JSON.parse(stdout), stdout);
    },
  },
};

Deno.test("every command of the README's sh blocks has a way to run it here, and every way a command", () => {
  assert.deepEqual(COMMANDS.map((c) => c.readme), readmeCommands(README));
  assert.deepEqual(Object.keys(VERBS).sort(), [...new Set(usageVerbs(README))].sort());
});

Deno.test({
  name: "the README's commands run in order on a fresh folder, exit 0 and write what they say",
  sanitizeResources: false,
  fn: async (t) => {
    if (!(await testDevice())) return;
    await Deno.remove(`${ROOT}${OUT}`, { recursive: true }).catch(() => {});
    // in order, as a user would: a command that fails stops the ones after it, which may need its files
    const steps = [
      ...COMMANDS.map((c) => [c.readme, c.run] as const),
      ...Object.entries(VERBS).map(([verb, v]) => [`deno task ${verb}`, v.run] as const),
    ];
    for (const [name, run] of steps) {
      if (run && !(await t.step(name, run))) return;
    }
    await Deno.remove(`${ROOT}${OUT}`, { recursive: true });
  },
});

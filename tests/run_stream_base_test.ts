/**
 * A pretrained model's weights stream to the GPU a tensor (or a piece of one) at a time, read at their files'
 * offsets, and a stage's weight files hold only what the stage trained, naming the checkpoint for the rest:
 * the run resumes exactly from them, merges read the rest back, and a checkpoint changed since is refused.
 */
import assert from "node:assert/strict";
import {
  adamw,
  dictionary,
  evaluate,
  lmLoss,
  lora,
  pipeline,
  pretrained,
  split,
  temperature,
  train,
} from "../mod.ts";
import { readSafetensors } from "../src/adapters/safetensors.ts";
import { main as mergeMain } from "../src/cli/merge.ts";
import { ParamStore, type WeightPiece, type WeightSource } from "../src/compile/param_store.ts";
import { read } from "../src/gpu/readback.ts";
import { denoFiles } from "../src/host/deno.ts";
import { type Files, useFiles } from "../src/host/files.ts";
import { normalArray, seedFor } from "../src/models/init.ts";
import { parseArch } from "../src/models/pretrained/arch.ts";
import { readPretrained } from "../src/models/pretrained/checkpoint.ts";
import { PretrainedWeights } from "../src/models/pretrained/weights.ts";
import { toBfloat16 } from "../src/compile/_halves.ts";
import { checkpointTensors } from "../src/models/pretrained/tensors.ts";
import { runPipeline } from "../src/run/pipeline.ts";
import {
  captureLog,
  exists,
  metricsWithoutTiming,
  removeOut,
  summaryWithoutTiming,
  tempOut,
} from "./fixtures/helpers.ts";
import { TINY_LLAMA, writeTinyCheckpoint } from "./fixtures/tiny_checkpoint.ts";
import { testDevice } from "./_harness.ts";

/** Writes TINY_LLAMA in bf16 over two shards and an index; returns each tensor's stored byte count. */
async function writeBf16Llama(dir: string): Promise<Map<string, number>> {
  const tensors = checkpointTensors(parseArch(TINY_LLAMA, "config.json"));
  const shards: [string, typeof tensors][] = [
    ["model-00001-of-00002.safetensors", tensors.slice(0, 5)],
    ["model-00002-of-00002.safetensors", tensors.slice(5)],
  ];
  const sizes = new Map<string, number>();
  const weightMap: Record<string, string> = {};
  await Deno.mkdir(dir, { recursive: true });
  for (const [file, list] of shards) {
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    const parts: Uint16Array[] = [];
    let at = 0;
    for (const t of list) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const values = normalArray(n, 0.2, seedFor(5, t.name));
      if (/norm\.weight$/.test(t.name)) values.forEach((v, i) => values[i] = 1 + v);
      // bf16: the upper half of each f32 (truncated, which is one of bf16's values)
      const bits = Uint16Array.from(new Uint32Array(values.buffer), (b) => b >>> 16);
      header[t.name] = { dtype: "BF16", shape: t.shape, data_offsets: [at, at + 2 * n] };
      at += 2 * n;
      parts.push(bits);
      sizes.set(t.name, 2 * n);
      weightMap[t.name] = file;
    }
    let json = JSON.stringify(header);
    json += " ".repeat((8 - (json.length % 8)) % 8);
    const head = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + head.length + at);
    new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
    out.set(head, 8);
    let o = 8 + head.length;
    for (const p of parts) {
      out.set(new Uint8Array(p.buffer), o);
      o += p.byteLength;
    }
    await Deno.writeFile(`${dir}/${file}`, out);
  }
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(TINY_LLAMA));
  await Deno.writeTextFile(
    `${dir}/model.safetensors.index.json`,
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
  return sizes;
}

/** The host's files, recording whole-file reads and the length of every positioned read, by path. */
function recordingFiles(): Files & { whole: string[]; reads: Map<string, number[]> } {
  const base = denoFiles();
  const whole: string[] = [];
  const reads = new Map<string, number[]>();
  return {
    ...base,
    whole,
    reads,
    readFileSync: (p) => {
      whole.push(p);
      return base.readFileSync(p);
    },
    readFile: (p) => {
      whole.push(p);
      return base.readFile(p);
    },
    openSync: (p) => {
      const f = base.openSync(p);
      return {
        size: () => f.size(),
        readAt: (into, position) => {
          const n = f.readAt(into, position);
          reads.set(p, [...(reads.get(p) ?? []), n]);
          return n;
        },
        close: () => f.close(),
      };
    },
  };
}

function spec(dir: string) {
  return pipeline("streamed")
    .seed(3)
    .domain("vi", dictionary("vi"), split(0.1))
    .model(pretrained(dir, { context: 8 }))
    .stage(
      "tune",
      train({
        mix: temperature(["vi"]),
        adapters: [lora(["model.layers.*.self_attn.q_proj", "model.layers.*.self_attn.v_proj"], { rank: 2 })],
        loss: lmLoss(),
        optimizer: adamw({ lr: 1e-2 }),
        trainable: ["model.norm"],
        steps: 4,
        batch: 2,
        logEvery: 1,
        checkpointEvery: 2,
      }),
    )
    .stage("check", evaluate({ from: "tune", tasks: ["validation_loss"] }))
    .stage(
      "again",
      train({
        from: "tune",
        mix: temperature(["vi"]),
        adapters: [lora("model.layers.*.self_attn.q_proj", { rank: 2 })],
        loss: lmLoss(),
        optimizer: adamw({ lr: 1e-2 }),
        steps: 1,
        batch: 2,
      }),
    )
    .build();
}

const LORA = /\.lora_[AB]\.weight$/;

Deno.test("a pretrained stage streams its checkpoint a tensor at a time, leaves it out of its files, resumes exactly from them, and merges refuse it once changed", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  const recorded = recordingFiles();
  try {
    const ckpt = `${out}/llama`;
    const sizes = await writeBf16Llama(ckpt);
    const s = spec(ckpt);
    useFiles(recorded);
    let result;
    try {
      result = await runPipeline(s, { out: `${out}/a`, log: captureLog() });
    } finally {
      useFiles(denoFiles());
    }
    // every weight file was read at offsets, never whole, and no read was larger than the largest tensor
    const weightFiles = [...recorded.reads.keys()].filter((p) => p.endsWith(".safetensors"));
    assert.deepEqual(recorded.whole.filter((p) => p.endsWith(".safetensors")), []);
    assert.equal(weightFiles.length, 2, weightFiles.join(", "));
    const largest = Math.max(...sizes.values());
    const reads = weightFiles.flatMap((p) => recorded.reads.get(p)!);
    assert.ok(
      Math.max(...reads) <= largest,
      `largest read ${Math.max(...reads)} bytes, largest tensor ${largest}`,
    );
    // the train stage and the evaluate stage each read every tensor (plus the headers)
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    assert.ok(reads.reduce((a, b) => a + b, 0) >= 2 * total, "every tensor read");

    const tune = `${result.root}/${result.stages[0].dir}`;
    for (
      const file of [
        "weights.safetensors",
        "checkpoint/weights.safetensors",
        "checkpoint.old/weights.safetensors",
      ]
    ) {
      const saved = readSafetensors(await Deno.readFile(`${tune}/${file}`));
      const names = Object.keys(saved.tensors);
      assert.deepEqual(
        names.filter((n) => !LORA.test(n)),
        ["model.norm.weight"],
        `${file}: what tune trains`,
      );
      assert.equal(names.length, 5, names.join(", "));
      assert.equal(saved.metadata.mixtune_base, ckpt);
      assert.match(saved.metadata.mixtune_base_sha256, /^[0-9a-f]{64}$/);
    }
    const stage = (name: string) => result.stages.find((r) => r.name === name)!;
    const checkLoss = (stage("check").summary.metrics as Record<string, number>)["validation_loss/vi"];
    assert.ok(Number.isFinite(checkLoss), `${checkLoss}`);
    // a stage from tune keeps tune's trained norm (frozen now) with its own LoRA, and streams the rest
    const tuned = readSafetensors(await Deno.readFile(`${tune}/weights.safetensors`)).tensors;
    const again = readSafetensors(
      await Deno.readFile(`${result.root}/${stage("again").dir}/weights.safetensors`),
    );
    assert.deepEqual(Object.keys(again.tensors).filter((n) => !LORA.test(n)), ["model.norm.weight"]);
    assert.deepEqual(again.tensors["model.norm.weight"], tuned["model.norm.weight"]);
    assert.notDeepEqual(
      tuned["model.norm.weight"].data,
      readPretrained(ckpt).weights.get("model.norm.weight"),
    );
    assert.equal(again.metadata.mixtune_base, ckpt);

    // resumed from the checkpoint of step 2 (a run killed after it): the same bytes as the run not interrupted
    const root = `${out}/b/streamed`;
    const copy = `${root}/${result.stages[0].dir}`;
    await Deno.mkdir(root, { recursive: true });
    await new Deno.Command("cp", { args: ["-r", tune, copy] }).output();
    for (const f of ["summary.json", "weights.safetensors", "adapter", "checkpoint"]) {
      await Deno.remove(`${copy}/${f}`, { recursive: true });
    }
    await Deno.rename(`${copy}/checkpoint.old`, `${copy}/checkpoint`);
    const log = captureLog();
    const resumed = await runPipeline(s, { out: `${out}/b`, log, resume: true });
    assert.ok(log.lines.includes("tune: resuming at step 2 of 4"), log.lines.join("\n"));
    for (const f of ["weights.safetensors", "adapter/adapter_model.safetensors"]) {
      assert.deepEqual(await Deno.readFile(`${copy}/${f}`), await Deno.readFile(`${tune}/${f}`), f);
    }
    assert.deepEqual(
      await metricsWithoutTiming(`${copy}/metrics.jsonl`),
      await metricsWithoutTiming(`${tune}/metrics.jsonl`),
    );
    for (const name of ["check", "again"]) {
      const dir = (r: typeof result) => `${r.root}/${r.stages.find((x) => x.name === name)!.dir}`;
      assert.deepEqual(
        await summaryWithoutTiming(`${dir(resumed)}/summary.json`),
        await summaryWithoutTiming(`${dir(result)}/summary.json`),
        name,
      );
    }

    // a merge reads the weights left out from the checkpoint: the untouched ones as stored, q/v merged, the
    // trained norm from the stage
    const quiet = console.log;
    console.log = () => {};
    try {
      assert.equal(await mergeMain([tune, "--out", `${out}/merged`]), 0);
    } finally {
      console.log = quiet;
    }
    const before = readPretrained(ckpt).weights;
    const after = readPretrained(`${out}/merged`).weights;
    assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
    for (const [name, w] of before) {
      if (/(q_proj|v_proj)\.weight$|^model\.norm\.weight$/.test(name)) {
        assert.notDeepEqual(after.get(name), w, name);
      } else assert.deepEqual(after.get(name), w, name);
    }

    // the checkpoint rewritten (its time changed): the stage's files no longer describe a model
    await Deno.utime(`${ckpt}/model-00002-of-00002.safetensors`, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const errors: string[] = [];
    const error = console.error;
    console.error = (line: string) => errors.push(line);
    try {
      assert.equal(await mergeMain([tune, "--out", `${out}/merged2`]), 2);
    } finally {
      console.error = error;
    }
    assert.deepEqual(errors, [
      `${tune}/weights.safetensors: leaves its frozen weights in ${ckpt}, whose files changed since it was ` +
      `written (config.json or a weight file's size or time); restore them or train the stage again`,
    ]);
    assert.equal(await exists(`${out}/merged2/model.safetensors`), false);
  } finally {
    useFiles(denoFiles());
    await removeOut(out);
  }
});

/** A source of weights in pieces of 6 elements: bf16 bits where asked for bf16, f32 values otherwise. */
function source(
  values: Map<string, Float32Array>,
): WeightSource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    has: (n) => values.has(n),
    pieces: (n: string, keep: false | "f16" | "bf16") => {
      asked.push(`${n}:${keep}`);
      const v = values.get(n)!;
      const out: WeightPiece[] = [];
      for (let o = 0; o < v.length; o += 6) {
        const f32 = v.slice(o, o + 6);
        if (keep === "bf16") {
          const bits = new Uint16Array(f32.length + (f32.length % 2));
          bits.set(Uint16Array.from(new Uint32Array(f32.buffer), (b) => b >>> 16));
          out.push({ offset: o, bits });
        } else out.push({ offset: o, f32 });
      }
      return out;
    },
  };
}

Deno.test("ParamStore.load streams the weights it is not given piece by piece, exactly, and does not hand them back", async () => {
  const device = await testDevice();
  if (!device) return;
  const infos = [
    { name: "f", shape: [5, 7], trainable: false },
    { name: "h", shape: [3, 5], trainable: false, half: "bf16" as const },
    { name: "t", shape: [13], trainable: true },
    { name: "given", shape: [4], trainable: false },
  ];
  // bf16-exact values: f32s with the lower half of their bits cleared
  const exact = (n: number, seed: number) => {
    const v = normalArray(n, 1, seed);
    new Uint32Array(v.buffer).forEach((b, i, all) => all[i] = b & 0xffff0000);
    return v;
  };
  const values = new Map([["f", exact(35, 1)], ["h", exact(15, 2)], ["t", exact(13, 3)]]);
  const given = Float32Array.of(1, 2, 3, 4);
  const src = source(values);
  const store = new ParamStore(device, infos);
  try {
    await store.load(new Map([["given", given]]), src);
    assert.deepEqual(src.asked, ["f:false", "h:bf16", "t:false"]);
    const f = store.slot("f");
    assert.deepEqual(await read(device, f.buffer, f.offset, f.bytes), values.get("f"));
    const h = store.slot("h");
    const bits = new Uint16Array((await read(device, h.buffer, h.offset, 32)).buffer, 0, 15);
    assert.deepEqual(
      Float32Array.from(bits, (b) => new Float32Array(new Uint32Array([b << 16]).buffer)[0]),
      values.get("h"),
    );
    // trainable weights and those given come back; frozen ones streamed in stay where they came from
    const back = await store.download();
    assert.deepEqual([...back.keys()].sort(), ["given", "t"]);
    assert.deepEqual(back.get("t"), values.get("t"));
    assert.deepEqual(back.get("given"), given);
    // a non-finite 16-bit value is refused, as a conversion refuses it
    values.get("h")![9] = NaN;
    await assert.rejects(() => store.load(new Map([["given", given]]), source(values)), {
      message: "parameter h: element 9 is not finite",
    });
  } finally {
    store.destroy();
  }
});

Deno.test("a checkpoint streamed in small pieces lands on the GPU as read whole: bf16 as stored, f32 as f32 or rounded to bf16", async () => {
  const device = await testDevice();
  if (!device) return;
  const out = await tempOut();
  try {
    await writeBf16Llama(`${out}/llama`);
    await writeTinyCheckpoint(`${out}/gpt2`);
    for (const dir of [`${out}/llama`, `${out}/gpt2`]) {
      const w = PretrainedWeights.open(dir);
      const whole = new Map(w.names().map((n) => [n, w.read(n)]));
      // 2-D weights in bf16 (as stored for the Llama, rounded from f32 for GPT-2), the others in f32
      const infos = w.names().map((n) => ({
        name: n,
        shape: [whole.get(n)!.length],
        trainable: false,
        half: (/(proj|c_attn|c_fc)\.weight$/.test(n) ? "bf16" : false) as false | "bf16",
      }));
      assert.ok(infos.some((p) => p.half) && infos.some((p) => !p.half));
      const store: ParamStore = new ParamStore(device, infos);
      try {
        // pieces of 7 elements at most (6: a 16-bit piece stays whole 32-bit words), so every tensor splits
        const small: WeightSource = { has: (n) => w.has(n), pieces: (n, keep) => w.pieces(n, keep, 7) };
        await store.load(new Map(), small);
        for (const p of infos) {
          const s = store.slot(p.name);
          const v = whole.get(p.name)!;
          if (!p.half) {
            assert.deepEqual(await read(device, s.buffer, s.offset, s.bytes), v, `${dir} ${p.name}`);
            continue;
          }
          const padded = Math.ceil(s.bytes / 4) * 4;
          const bits: Uint16Array = new Uint16Array(
            (await read(device, s.buffer, s.offset, padded)).buffer,
            0,
            v.length,
          );
          assert.deepEqual(bits, toBfloat16(p.name, v).subarray(0, v.length), `${dir} ${p.name}`);
        }
        assert.equal((await store.download()).size, 0, "streamed frozen weights are not read back");
      } finally {
        store.destroy();
      }
    }
  } finally {
    await removeOut(out);
  }
});

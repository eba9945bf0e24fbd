/**
 * Supervised examples: chats rendered by Qwen3's own chat template, Alpaca and prompt/completion records,
 * response-only targets (-1 elsewhere), packing that never lets an example cross a window, and the plan.
 */
import assert from "node:assert/strict";
import { ChatTemplate, exampleTexts } from "../src/data/chat_template.ts";
import { CorpusBuilder } from "../src/data/corpus.ts";
import { textBatch } from "../src/data/batch.ts";
import { packExamples } from "../src/data/packing.ts";
import { loadTokenizer } from "../src/data/tokenizer.ts";
import { loadDomain } from "../src/compile/domains.ts";
import { planPipeline } from "../src/compile/pipeline_plan.ts";
import { formatPlan } from "../src/cli/format.ts";
import { validatePipeline } from "../src/spec/validate.ts";
import type { TextDomain } from "../src/data/domain.ts";
import { qwen3Dir } from "./fixtures/real_tokenizers.ts";

const qwen = loadTokenizer(qwen3Dir());
const template = new ChatTemplate(qwen.chatTemplate!, qwen.specialTokens);
const where = { file: "chat.jsonl", line: 1 };

function build(records: unknown[]) {
  const b = new CorpusBuilder({ tokenizer: qwen, vocabSize: qwen.vocabSize, eos: qwen.eos, template });
  records.forEach((r, i) => b.addRecord({ item: r as never, where: { file: "x.jsonl", line: i + 1 } }));
  return b.done("x.jsonl");
}

Deno.test("a chat is rendered by Qwen3's chat template; only the assistant's tokens are trained", () => {
  const messages = [
    { role: "system", content: "You add numbers." },
    { role: "user", content: "2+2?" },
    { role: "assistant", content: "4" },
  ];
  const rendered = template.render(messages, false);
  assert.equal(
    rendered,
    "<|im_start|>system\nYou add numbers.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n" +
      "<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n",
  );
  const corpus = build([{ kind: "chat", messages }]);
  const ids = [...corpus.ids];
  const trained = [...corpus.trained!];
  // segment by segment tokenization gives the ids of the whole rendered text
  assert.deepEqual(ids, qwen.encode(rendered));
  assert.equal(qwen.decode(ids.filter((_, i) => trained[i])), "<think>\n\n</think>\n\n4<|im_end|>\n");
  assert.equal(
    qwen.decode(ids.filter((_, i) => !trained[i])),
    "<|im_start|>system\nYou add numbers.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(ids.at(-2), qwen.eos, "<|im_end|> is trained: the model learns to stop");
});

Deno.test("multi-turn chats: one example when the template renders as a growing prefix, else one per turn", () => {
  const messages = [
    { role: "user", content: "a" },
    { role: "assistant", content: "b" },
    { role: "user", content: "c" },
    { role: "assistant", content: "d" },
  ];
  // Qwen3 drops the empty think block of earlier turns: each turn becomes its own example
  const qwenTurns = template.examples(messages, where);
  assert.equal(qwenTurns.length, 2);
  assert.equal(
    qwenTurns[1].segments[0].text,
    "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(qwenTurns[1].segments[1].text, "<think>\n\n</think>\n\nd<|im_end|>\n");
  const chatml = new ChatTemplate(
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  );
  const one = chatml.examples(messages, where);
  assert.equal(one.length, 1);
  assert.deepEqual(one[0].segments.map((s) => [s.text, s.trained]), [
    ["<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n", false],
    ["b<|im_end|>\n", true],
    ["<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n", false],
    ["d<|im_end|>\n", true],
  ]);
  assert.throws(() => chatml.examples([{ role: "user", content: "a" }], where), {
    message: "chat.jsonl:1: the conversation has no assistant turn to learn from",
  });
  assert.throws(() => exampleTexts({ kind: "chat", messages }, undefined, where), {
    message: "chat.jsonl:1: a chat record needs a tokenizer whose tokenizer_config.json has a chat_template",
  });
});

Deno.test("Alpaca and prompt/completion records: the response and EOS are trained, the prompt is not", () => {
  const alpaca = exampleTexts(
    { kind: "alpaca", instruction: "Reverse it.", input: "abc", output: "cba" },
    undefined,
    where,
  );
  assert.deepEqual(alpaca, [{
    segments: [
      {
        text:
          "Below is an instruction that describes a task, paired with an input that provides further context. " +
          "Write a response that appropriately completes the request.\n\n### Instruction:\nReverse it.\n\n" +
          "### Input:\nabc\n\n### Response:\n",
        trained: false,
      },
      { text: "cba", trained: true },
    ],
    eos: true,
  }]);
  const withTemplate = exampleTexts(
    { kind: "alpaca", instruction: "Reverse it.", input: "abc", output: "cba" },
    template,
    where,
  );
  assert.equal(
    withTemplate[0].segments[0].text,
    "<|im_start|>user\nReverse it.\n\nabc<|im_end|>\n<|im_start|>assistant\n",
  );
  const corpus = build([{ kind: "completion", prompt: "2+2=", completion: "4" }]);
  assert.deepEqual([...corpus.ids], [...qwen.encode("2+2="), ...qwen.encode("4"), qwen.eos]);
  const n = qwen.encode("2+2=").length;
  assert.deepEqual([...corpus.trained!], [...Array(n).fill(0), 1, 1]);
});

Deno.test("packing: whole examples per window, first ids never trained, padding never trained", () => {
  // five examples of lengths 3, 3, 7 (cut to 5), 2 and 4 (its only trained id is cut off: dropped)
  const lengths = [3, 3, 7, 2, 4];
  const ids = Int32Array.from({ length: 19 }, (_, i) => 100 + i);
  const offsets = Float64Array.from([0, 3, 6, 13, 15, 19]);
  const trained = Uint8Array.from([1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]);
  trained[18] = 0;
  assert.equal(lengths.reduce((a, b) => a + b), ids.length);
  const context = 4; // windows of 5 ids: [0, 4], [4, 8], [8, 12], ...
  const packed = packExamples(ids, offsets, trained, { first: 0, last: 5 }, context, "pack", -7);
  // example 0 at 0..2; example 1 does not fit in [0, 4] from 3: window [4, 8] at 4..6; example 2 (cut to 5)
  // at 8..12; example 3 at 13..14 (window [12, 16]); example 4 has no trained id: dropped
  assert.deepEqual([...packed.ids], [
    100,
    101,
    102,
    -7,
    103,
    104,
    105,
    -7,
    106,
    107,
    108,
    109,
    110,
    113,
    114,
    -7,
    -7,
  ]);
  assert.deepEqual([...packed.trained], [0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0]);
  assert.deepEqual(packed.stats, {
    examples: 4,
    truncated: 1,
    dropped: 1,
    trainedTokens: 8,
    tokens: 17,
    efficiency: 13 / 17,
  });
  const pad = packExamples(ids, offsets, trained, { first: 0, last: 2 }, context, "pad", 0);
  assert.deepEqual([...pad.ids], [100, 101, 102, 0, 103, 104, 105, 0, 0]);
  // every window's trained targets belong to examples that start inside it
  const domain: TextDomain = {
    name: "d",
    kind: "text",
    train: packed.ids,
    validation: new Int32Array(0),
    trainMask: packed.trained,
  };
  const batch = textBatch([domain], {
    domain: Int32Array.from([0, 0, 0, 0]),
    index: Int32Array.from([0, 1, 2, 3]),
    weight: new Float32Array(4),
  }, context);
  assert.deepEqual([...batch.targets], [
    101,
    102,
    -1,
    -1,
    104,
    105,
    -1,
    -1,
    -1,
    108,
    109,
    110,
    -1,
    114,
    -1,
    -1,
  ]);
});

Deno.test("a chat JSONL domain: split by examples, packed, and the plan shows examples, trained tokens and efficiency", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mixtune_chat_" });
  try {
    const lines = Array.from(
      { length: 20 },
      (_, i) =>
        JSON.stringify({
          messages: [{ role: "user", content: `${i}+${i}?` }, { role: "assistant", content: `${2 * i}` }],
        }),
    );
    await Deno.writeTextFile(`${dir}/chat.jsonl`, lines.join("\n"));
    const spec = validatePipeline({
      name: "sft",
      seed: 1,
      domains: {
        math: {
          source: { kind: "jsonl", path: `${dir}/chat.jsonl`, tokenizer: qwen3Dir() },
          transforms: [{ kind: "split", validation: 0.25 }],
        },
      },
      model: { backbone: "lm", context: 64, vocab: qwen.vocabSize, dim: 8, depth: 1, heads: 1, mlpRatio: 2 },
      stages: {
        tune: {
          kind: "train",
          mix: { domains: ["math"], strategy: "temperature", temperature: 1 },
          loss: { kind: "lm" },
          optimizer: { kind: "adamw", lr: 1e-3 },
          steps: 2,
          batch: 2,
        },
      },
    });
    const d = await loadDomain("math", spec.domains.math, spec, { tokens: `${dir}/.tokens` });
    assert.equal(d.kind, "text");
    const text = d as TextDomain;
    assert.equal(text.packing!.train.examples, 15);
    assert.equal(text.packing!.validation!.examples, 5);
    // every id of the 15 training examples is in the stream once; the rest is padding
    const stats = text.packing!.train;
    const lengths = lines.slice(0, 15).map((l) => {
      const m = JSON.parse(l).messages;
      return qwen.encode(template.render(m, false)).length;
    });
    assert.equal(stats.efficiency, lengths.reduce((a, b) => a + b) / stats.tokens);
    assert.equal(stats.tokens, text.train.length);
    assert.ok(stats.efficiency > 0.7, String(stats.efficiency));
    const responses = lines.slice(0, 15).map((l) =>
      qwen.encode(`<think>\n\n</think>\n\n${JSON.parse(l).messages[1].content}<|im_end|>\n`).length
    );
    assert.equal(stats.trainedTokens, responses.reduce((a, b) => a + b));
    const plan = await planPipeline(spec, { tokens: `${dir}/.tokens` });
    const printed = formatPlan(plan);
    assert.match(printed, /supervised examples/);
    assert.deepEqual(plan.stages[0].sampling!.domains[0].packing, text.packing!.train);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

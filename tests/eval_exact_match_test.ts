/**
 * The exact_match task without a GPU: prompts and references cut from examples rendered by Qwen3's chat
 * template, the comparison, greedy generation over a stand-in model that must score 1, and the spec.
 */
import assert from "node:assert/strict";
import { ChatTemplate } from "../src/data/chat_template.ts";
import { CorpusBuilder } from "../src/data/corpus.ts";
import type { HeldOutExamples } from "../src/data/domain.ts";
import { byteTokenizer, loadTokenizer } from "../src/data/tokenizer.ts";
import { exactMatch, promptAndResponse, responseText, stopIds } from "../src/eval/exact_match.ts";
import type { Forward } from "../src/compile/forward.ts";
import type { Node } from "../src/graph/node.ts";
import { greedyResponses } from "../src/run/greedy.ts";
import { checkPipeline } from "../src/spec/validate.ts";
import { qwen3Dir } from "./fixtures/real_tokenizers.ts";

const qwen = loadTokenizer(qwen3Dir());
const template = new ChatTemplate(qwen.chatTemplate!, qwen.specialTokens);
const IM_END = 151645;

function examples(records: unknown[], tokenizer = qwen, withTemplate = true): HeldOutExamples {
  const b = new CorpusBuilder({
    tokenizer: tokenizer === byteTokenizer ? undefined : tokenizer,
    vocabSize: tokenizer.vocabSize,
    eos: tokenizer.eos,
    template: withTemplate ? template : undefined,
  });
  records.forEach((r, i) => b.addRecord({ item: r as never, where: { file: "x.jsonl", line: i + 1 } }));
  const c = b.done("x.jsonl");
  return { ids: Int32Array.from(c.ids), offsets: c.offsets, trained: c.trained! };
}

const chat = [
  { role: "system", content: "You add numbers." },
  { role: "user", content: "2+3?" },
  { role: "assistant", content: "5" },
  { role: "user", content: "and 4+4?" },
  { role: "assistant", content: " 8 " },
];

Deno.test("the prompt is the conversation up to the last assistant turn with the generation prompt", () => {
  const ex = examples([{ kind: "chat", messages: chat }]);
  const examplesIn = ex.offsets.length - 1;
  // Qwen3's template drops earlier turns' reasoning: one example per assistant turn; the last is the last one
  const { prompt, response } = promptAndResponse(ex, examplesIn - 1);
  assert.deepEqual(prompt, qwen.encode(template.render(chat.slice(0, 4), true)));
  // the reference is the template's rendering of the turn (Qwen3's strips the leading space of " 8 ")
  assert.equal(qwen.decode(response), "<think>\n\n</think>\n\n8 <|im_end|>\n");
  assert.equal(responseText(response, stopIds(qwen), qwen), "<think>\n\n</think>\n\n8");
  // the first example is the first turn
  const one = promptAndResponse(ex, 0);
  assert.deepEqual(one.prompt, qwen.encode(template.render(chat.slice(0, 2), true)));
  assert.equal(qwen.decode(one.response), "<think>\n\n</think>\n\n5<|im_end|>\n");
});

Deno.test("prompt/completion and Alpaca records without a template: the completion and EOS are the reference", () => {
  const bytes = examples([{ kind: "completion", prompt: "2+2=", completion: "4" }], byteTokenizer, false);
  assert.deepEqual(promptAndResponse(bytes, 0), {
    prompt: [...new TextEncoder().encode("2+2=")],
    response: [52],
  });
  const alpaca = examples(
    [{ kind: "alpaca", instruction: "Reverse it.", input: "", output: "cba" }],
    qwen,
    false,
  );
  const { prompt, response } = promptAndResponse(alpaca, 0);
  assert.equal(qwen.decode(prompt).endsWith("### Response:\n"), true);
  assert.deepEqual(response, [...qwen.encode("cba"), qwen.eos]);
});

Deno.test("exact match: stop ids end a response; whitespace is trimmed; anything else differs", () => {
  const stops = stopIds(qwen);
  assert.deepEqual([...stops].sort(), [151643, IM_END]);
  assert.deepEqual([...stopIds(byteTokenizer)], []);
  const reference = qwen.encode("<think>\n\n</think>\n\n42<|im_end|>\n");
  const same = (text: string, extra: number[] = []) =>
    exactMatch([...qwen.encode(text), ...extra], reference, stops, qwen);
  assert.equal(same("<think>\n\n</think>\n\n42", [IM_END]), true);
  assert.equal(same("<think>\n\n</think>\n\n42  \n", [IM_END, ...qwen.encode("junk")]), true);
  assert.equal(same("<think>\n\n</think>\n\n42"), true, "cut by the token limit right before the stop");
  assert.equal(same("<think>\n\n</think>\n\n42", [151643]), true, "<|endoftext|> stops too");
  assert.equal(same("<think>\n\n</think>\n\n4", [IM_END]), false);
  assert.equal(same("<think>\n\n</think>\n\n421", [IM_END]), false);
  assert.equal(same("42", [IM_END]), false, "the template's empty reasoning block is part of the response");
  assert.equal(same("<think>\n\n</think>\n\n42.", [IM_END]), false);
  assert.equal(same("", [IM_END]), false);
});

/** A stand-in forward pass: the next id after id a is table[a] (logit 1, others 0), at every position. */
function bigramForward(table: Map<number, number>, vocab: number): {
  forward: Forward;
  calls: number[][];
} {
  let x: Float32Array = new Float32Array(0);
  const calls: number[][] = [];
  const forward = {
    feed: (b: { x: Float32Array }) => {
      x = b.x;
    },
    run: () => {
      calls.push([...x]);
      const l = new Float32Array(x.length * vocab);
      for (let i = 0; i < x.length; i++) l[i * vocab + (table.get(x[i]) ?? 0)] = 1;
      return Promise.resolve([l]);
    },
  };
  return { forward: forward as unknown as Forward, calls };
}

Deno.test("greedy generation over a model that answers every prompt scores 1; rows stop at their stop id", async () => {
  const records = [["1+1?", "2"], ["9+9?", "18"], ["3+4?", "7"]].map(([q, a]) => ({
    kind: "completion",
    prompt: q,
    completion: a,
  }));
  const ex = examples(records, byteTokenizer, false);
  const stops = new Set([0]);
  const pairs = [0, 1, 2].map((i) => promptAndResponse(ex, i));
  // every prompt ends in "?" (63), so each gets its own table: one prompt per run
  const answers: number[][] = [];
  for (const p of pairs) {
    const ref = p.response;
    const table = new Map<number, number>();
    let prev = p.prompt[p.prompt.length - 1];
    for (const id of [...ref, 0]) {
      table.set(prev, id);
      prev = id;
    }
    const { forward, calls } = bigramForward(table, 256);
    const [got] = await greedyResponses(forward, {} as Node, [p.prompt], {
      batch: 2,
      context: 8,
      vocab: 256,
      maxNew: 10,
      stops,
    });
    assert.deepEqual(got, [...ref, 0]);
    assert.equal(calls.length, ref.length + 1, "stops right after the stop id");
    // the window is the last 8 ids, right-padded rows beyond the prompts are zeros
    assert.deepEqual(calls[0].slice(0, 8), [
      ...p.prompt.slice(-8),
      ...new Array(Math.max(0, 8 - p.prompt.length)).fill(0),
    ]);
    assert.deepEqual(calls[0].slice(8), new Array(8).fill(0));
    answers.push(got);
  }
  const hits = pairs.filter((p, i) => exactMatch(answers[i], p.response, stops, byteTokenizer)).length;
  assert.equal(hits / pairs.length, 1);
  // a model that never stops is cut at maxNew, and two prompts share one run
  const loop = bigramForward(new Map([[63, 49], [49, 49]]), 256);
  const got = await greedyResponses(loop.forward, {} as Node, [pairs[0].prompt, pairs[1].prompt], {
    batch: 2,
    context: 8,
    vocab: 256,
    maxNew: 3,
    stops,
  });
  assert.deepEqual(got, [[49, 49, 49], [49, 49, 49]]);
  assert.equal(loop.calls.length, 3);
  assert.equal(exactMatch(got[0], pairs[0].response, stops, byteTokenizer), false);
});

Deno.test("the spec: exact_match needs a pretrained LM; its bounds are positive integers", () => {
  const spec = (model: unknown, exactMatch?: unknown) => ({
    name: "x",
    seed: 1,
    domains: { d: { source: { kind: "dictionary", language: "vi" } } },
    model,
    stages: {
      t: {
        kind: "train",
        mix: { domains: ["d"], strategy: "temperature" },
        loss: { kind: "lm" },
        optimizer: { kind: "adamw", lr: 1e-3 },
        steps: 1,
        batch: 1,
      },
      e: { kind: "evaluate", from: "t", tasks: ["exact_match"], ...(exactMatch ? { exactMatch } : {}) },
    },
  });
  const lm = { backbone: "lm", context: 8, dim: 8, depth: 1, heads: 1, mlpRatio: 2 };
  assert.deepEqual(checkPipeline(spec(lm)), [{
    path: "stages.e.tasks[0]",
    message: "expected a pretrained causal LM (with a tokenizer) for the exact_match task, found an lm model",
  }]);
  const problems = checkPipeline(spec(lm, { maxNewTokens: 0, examples: 1.5, top: 1 })).map((p) => p.path);
  assert.deepEqual(problems.sort(), [
    "stages.e.exactMatch.examples",
    "stages.e.exactMatch.maxNewTokens",
    "stages.e.exactMatch.top",
    "stages.e.tasks[0]",
  ]);
});

/**
 * The instruction-mix experiment's data (pipelines/sft_mix_data.ts): sizes, answers by their rules, no
 * held-out example seen in training, and every chat within the model's positions with each letter one id.
 */
import assert from "node:assert/strict";
import { checkHeldOut, CONFIG, generate, HELD_OUT, taskData, TASKS } from "../pipelines/sft_mix_data.ts";
import { ChatTemplate } from "../src/data/chat_template.ts";
import { tokenizerFromJson } from "../src/data/tokenizer.ts";

const data = await taskData();

Deno.test("sft_mix data: task sizes, and answers by each task's rule", () => {
  for (const [name, n] of Object.entries(TASKS)) {
    assert.equal(data.tasks[name as keyof typeof TASKS].length, n + HELD_OUT, name);
  }
  const ru = new Map(data.tasks.translit_ru);
  for (const [word, answer] of data.tasks.translit_ru) {
    assert.match(word, /^[а-яё]{3,6}$/);
    assert.equal([...answer].length, [...word].length, `ISO 9 is one letter per letter: ${word}`);
  }
  // spot checks of the tables, where the lists hold these words
  for (const [word, want] of [["жук", "žuk"], ["щит", "ŝit"], ["юла", "ûla"]]) {
    if (ru.has(word)) assert.equal(ru.get(word), want);
  }
  for (const [word, answer] of data.tasks.upper_fr) {
    assert.match(word, /^[a-z]{3,5}$/);
    assert.equal(answer, word.toUpperCase());
  }
  for (const [word, answer] of data.tasks.translit_el) {
    assert.match(word, /^[α-ωάέήίόύώ]{3,5}$/);
    assert.match(answer, /^[a-z]+$/);
  }
});

Deno.test("sft_mix data: held-out examples are in no training example or pretraining line", () => {
  checkHeldOut(data);
  const [word, answer] = data.tasks.translit_el.at(-1)!;
  assert.throws(
    () => checkHeldOut({ ...data, pretrain: data.pretrain + `${word}=${answer}\n` }),
    /held-out translit_el example/,
  );
  const [fr, up] = data.tasks.upper_fr.at(-1)!;
  const leaked = { ...data.tasks, translit_ru: [[fr, up] as [string, string], ...data.tasks.translit_ru] };
  assert.throws(() => checkHeldOut({ ...data, tasks: leaked }), /held-out upper_fr example/);
});

Deno.test("sft_mix data: every chat fits the model's positions, each letter one id", async () => {
  const files = await generate();
  const json = (name: string) => JSON.parse(new TextDecoder().decode(files.get(name)!));
  const config = json("init/tokenizer_config.json");
  const tokenizer = tokenizerFromJson(json("init/tokenizer.json"), config);
  assert.equal(tokenizer.vocabSize, CONFIG.vocab_size);
  const template = new ChatTemplate(config.chat_template);
  let longest = 0;
  for (const [name, examples] of Object.entries(data.tasks)) {
    for (const [prompt, response] of examples) {
      assert.equal(tokenizer.encode(prompt).length, [...prompt].length, `${name}: ${prompt}`);
      assert.equal(tokenizer.encode(response).length, [...response].length, `${name}: ${response}`);
      const text = template.render([
        { role: "user", content: prompt },
        { role: "assistant", content: response },
      ], false);
      // the window holds the chat and the id after it
      longest = Math.max(longest, tokenizer.encode(text).length + 1);
    }
  }
  assert.ok(longest <= Number(CONFIG.max_position_embeddings), `longest chat ${longest} ids`);
});

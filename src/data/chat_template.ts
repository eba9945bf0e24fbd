/**
 * Supervised examples as text segments, each marked trained (the response: assistant turns, Alpaca's output,
 * a completion) or not (the prompt). Chats are rendered by the tokenizer's own `chat_template`, evaluated by
 * `@huggingface/jinja`; the trained span of an assistant turn is what the template adds between the
 * conversation so far with the generation prompt and the conversation including that turn.
 */
import { Template } from "@huggingface/jinja";
import { DataError, type DataErrorOptions } from "./errors.ts";
import type { Item, Message } from "./sources/records.ts";

/** A piece of an example's text; `trained` pieces are the ones the loss counts. */
export interface Segment {
  text: string;
  trained: boolean;
}

/** An example's segments, and whether the tokenizer's EOS id ends it (trained) after the last one. */
export interface ExampleText {
  segments: Segment[];
  eos: boolean;
}

/** A parsed chat template with the special tokens it reads. */
export class ChatTemplate {
  readonly #template: Template;
  constructor(
    readonly source: string,
    readonly specialTokens: Record<string, string> = {},
    where = "chat_template",
  ) {
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw new DataError(`the chat template does not parse: ${(e as Error).message}`, { file: where });
    }
  }

  /** The conversation as text, with the assistant's generation prompt at the end when `generation` is set. */
  render(messages: readonly Message[], generation: boolean, where: DataErrorOptions = {}): string {
    try {
      return this.#template.render({
        ...this.specialTokens,
        messages: messages.map((m) => ({ ...m })),
        add_generation_prompt: generation,
      });
    } catch (e) {
      throw new DataError(`the chat template fails on this conversation: ${(e as Error).message}`, where);
    }
  }

  /**
   * The examples of a conversation: one, with each assistant turn from `firstTrained` on trained, when the
   * template renders turn by turn as a growing prefix; otherwise (a template that rewrites earlier turns,
   * as Qwen3's drops their reasoning) one example per trained turn, its history as the prompt.
   */
  examples(messages: readonly Message[], where: DataErrorOptions, firstTrained = 0): ExampleText[] {
    const turns = messages.flatMap((m, i) => m.role === "assistant" && i >= firstTrained ? [i] : []);
    if (turns.length === 0) {
      throw new DataError(`the conversation has no assistant turn to learn from`, where);
    }
    const turn = (k: number): [string, string] => {
      const prompt = this.render(messages.slice(0, k), true, where);
      const full = this.render(messages.slice(0, k + 1), false, where);
      if (!full.startsWith(prompt)) {
        throw new DataError(
          `the chat template renders assistant turn ${k} without the generation prompt before it, so its ` +
            `tokens cannot be told from the prompt's`,
          where,
        );
      }
      return [prompt, full];
    };
    const segments: Segment[] = [];
    let before = "";
    for (const k of turns) {
      const [prompt, full] = turn(k);
      if (!prompt.startsWith(before)) return turns.map((t) => single(turn(t)));
      segments.push({ text: prompt.slice(before.length), trained: false });
      segments.push({ text: full.slice(prompt.length), trained: true });
      before = full;
    }
    const whole = this.render(messages, false, where);
    if (!whole.startsWith(before)) return turns.map((t) => single(turn(t)));
    if (whole.length > before.length) segments.push({ text: whole.slice(before.length), trained: false });
    return [{ segments, eos: false }];
  }
}

function single([prompt, full]: [string, string]): ExampleText {
  return {
    segments: [{ text: prompt, trained: false }, { text: full.slice(prompt.length), trained: true }],
    eos: false,
  };
}

/** Stanford Alpaca's prompts, for Alpaca records when the tokenizer has no chat template. */
const ALPACA = {
  input:
    "Below is an instruction that describes a task, paired with an input that provides further context. " +
    "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n" +
    "### Input:\n{input}\n\n### Response:\n",
  plain: "Below is an instruction that describes a task. Write a response that appropriately completes the " +
    "request.\n\n### Instruction:\n{instruction}\n\n### Response:\n",
};

/**
 * The examples of a supervised item. Chats need a chat template; with one, Alpaca records become a user turn
 * (instruction, then the input after a blank line) and an assistant turn. Without one, Alpaca records use
 * Alpaca's own prompt, and text prompt/completion pairs are joined as they are; both end with a trained EOS.
 */
export function exampleTexts(
  item: Item,
  template: ChatTemplate | undefined,
  where: DataErrorOptions,
): ExampleText[] {
  const needTemplate = (what: string): ChatTemplate => {
    if (template === undefined) {
      throw new DataError(`${what} needs a tokenizer whose tokenizer_config.json has a chat_template`, where);
    }
    return template;
  };
  switch (item.kind) {
    case "chat":
      return needTemplate("a chat record").examples(item.messages, where);
    case "alpaca": {
      const user = item.input === "" ? item.instruction : `${item.instruction}\n\n${item.input}`;
      if (template !== undefined) {
        return template.examples([{ role: "user", content: user }, {
          role: "assistant",
          content: item.output,
        }], where);
      }
      const prompt = (item.input === "" ? ALPACA.plain : ALPACA.input)
        .replace("{instruction}", () => item.instruction)
        .replace("{input}", () => item.input);
      return [{
        segments: [{ text: prompt, trained: false }, { text: item.output, trained: true }],
        eos: true,
      }];
    }
    case "completion": {
      if (typeof item.prompt === "string" && typeof item.completion === "string") {
        return [{
          segments: [{ text: item.prompt, trained: false }, { text: item.completion, trained: true }],
          eos: true,
        }];
      }
      const prompt = item.prompt as Message[];
      return needTemplate("a conversational prompt/completion record")
        .examples([...prompt, ...item.completion as Message[]], where, prompt.length);
    }
    default:
      throw new Error(`exampleTexts: a ${item.kind} record is a document, not an example`);
  }
}

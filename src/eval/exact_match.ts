/**
 * Exact match of generated responses: each held-out example splits into its prompt (every id before its
 * last response span: for a chat, the conversation up to the last assistant turn rendered with the
 * generation prompt) and its reference response (that span). A generation is cut at the first stop id (EOS
 * or an end-of-turn token); both texts are decoded, trimmed of whitespace, and compared exactly.
 */
import type { HeldOutExamples } from "../data/domain.ts";
import type { TextTokenizer } from "../data/tokenizer.ts";

/** One example's prompt and the response the model should produce after it. */
export interface PromptAndResponse {
  prompt: number[];
  response: number[];
}

/** Tokens that end an assistant turn in common chat templates; those the tokenizer has as one id stop. */
const END_OF_TURN = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>"];

/**
 * Example `i` as prompt and reference response: the response is its last run of trained ids, the prompt
 * every id before that run. An example with no trained id is an error (the loader never keeps one).
 */
export function promptAndResponse(examples: HeldOutExamples, i: number): PromptAndResponse {
  const start = examples.offsets[i];
  const end = examples.offsets[i + 1];
  let last = end - 1;
  while (last >= start && examples.trained[last] === 0) last--;
  if (last < start) throw new RangeError(`example ${i} has no response token`);
  let first = last;
  while (first > start && examples.trained[first - 1] === 1) first--;
  return {
    prompt: [...examples.ids.subarray(start, first)],
    response: [...examples.ids.subarray(first, last + 1)],
  };
}

/** The ids that end a generation: the tokenizer's EOS and the end-of-turn tokens it encodes as one id. */
export function stopIds(tokenizer: TextTokenizer): Set<number> {
  const stops = new Set<number>();
  if (tokenizer.eos !== undefined) stops.add(tokenizer.eos);
  for (const token of END_OF_TURN) {
    const ids = tokenizer.encode(token);
    if (ids.length === 1) stops.add(ids[0]);
  }
  return stops;
}

/** The text of a response: its ids up to the first stop id, decoded, whitespace trimmed at both ends. */
export function responseText(
  ids: readonly number[],
  stops: ReadonlySet<number>,
  tokenizer: TextTokenizer,
): string {
  const end = ids.findIndex((id) => stops.has(id));
  return tokenizer.decode(end < 0 ? ids : ids.slice(0, end)).trim();
}

/** Whether a generation matches the reference response exactly (see `responseText`). */
export function exactMatch(
  generated: readonly number[],
  reference: readonly number[],
  stops: ReadonlySet<number>,
  tokenizer: TextTokenizer,
): boolean {
  return responseText(generated, stops, tokenizer) === responseText(reference, stops, tokenizer);
}

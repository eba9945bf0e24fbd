/**
 * Two lookups of `@huggingface/tokenizers`' BPE model (0.2.x) that dominate tokenizing a large corpus, made
 * cheaper without changing an id (bench/corpus_load.ts measures both; bench/NOTES.md has the figures):
 *
 * - the rank of each candidate pair is looked up by `JSON.stringify([a, b])` in one Map of every merge: a
 *   new string built and hashed per lookup. Here: a Map from the left symbol to a Map from the right one.
 * - every word goes through an LRU cache of 10,000 entries whose every hit is a delete and a set, and on a
 *   corpus of mostly distinct words (word lists) every miss evicts. Here: a plain Map, emptied when it holds
 *   100,000 words (BPE of a word is a pure function, so the cache decides only speed).
 *
 * The model is changed only when it has exactly the fields these replace; otherwise it is left as it is.
 */

/** A BPE model as the library builds it: the fields read here. */
interface BpeModel {
  merges: unknown;
  bpe_ranks: unknown;
  cache: unknown;
  add_node: unknown;
}

interface QueueNode {
  token: string;
  bias: number;
  score?: number;
  next: { token: string };
}

const CACHE_WORDS = 100_000;

/** Replaces the pair-rank lookup and the word cache of `tokenizer`'s BPE model (see the module comment). */
export function fasterBpeLookups(tokenizer: unknown): void {
  const model = (tokenizer as { model?: Partial<BpeModel> } | null)?.model;
  if (
    !model || !(model.bpe_ranks instanceof Map) || !Array.isArray(model.merges) ||
    typeof model.add_node !== "function" || typeof (model.cache as { put?: unknown })?.put !== "function"
  ) {
    return;
  }
  // as the library's `new Map(merges.map(...))`: a pair listed twice keeps its last rank
  const ranks = new Map<string, Map<string, number>>();
  for (let i = 0; i < model.merges.length; i++) {
    const pair = model.merges[i];
    if (!Array.isArray(pair) || pair.length !== 2) return;
    const [a, b] = pair as [string, string];
    let right = ranks.get(a);
    if (right === undefined) ranks.set(a, right = new Map());
    right.set(b, i);
  }
  model.add_node = (queue: { push(node: QueueNode): void }, node: QueueNode): void => {
    const rank = ranks.get(node.token)?.get(node.next.token);
    if (rank !== undefined) {
      node.score = rank + node.bias;
      queue.push(node);
    }
  };
  const words = new Map<string, string[]>();
  model.cache = {
    get: (word: string): string[] | undefined => words.get(word),
    put: (word: string, pieces: string[]): void => {
      if (words.size >= CACHE_WORDS) words.clear();
      words.set(word, pieces);
    },
    clear: (): void => words.clear(),
  };
}

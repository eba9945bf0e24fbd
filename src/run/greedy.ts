/**
 * Greedy generation for many prompts at once through a forward program of the evaluated weights (adapters
 * included): each row holds one prompt's last `context` ids right-padded with zeros, which causal attention
 * never lets reach the next-token logits of the last real position; a row stops at a stop id.
 */
import type { Forward } from "../compile/forward.ts";
import type { Node } from "../graph/node.ts";

/** What `greedyResponses` needs besides the prompts. */
export interface GreedyOptions {
  /** Rows the program runs at once. */
  batch: number;
  /** Tokens per row. */
  context: number;
  vocab: number;
  maxNew: number;
  /** A row ends after emitting one of these (kept as its last id). */
  stops: ReadonlySet<number>;
}

/** The ids generated after each prompt, greedily (argmax, the lowest id on ties). */
export async function greedyResponses(
  forward: Forward,
  logits: Node,
  prompts: readonly (readonly number[])[],
  options: GreedyOptions,
): Promise<number[][]> {
  const { batch, context: T, vocab: V, maxNew, stops } = options;
  const out: number[][] = prompts.map(() => []);
  for (let first = 0; first < prompts.length; first += batch) {
    const rows = Math.min(batch, prompts.length - first);
    const ids = prompts.slice(first, first + rows).map((p) => {
      if (p.length === 0) throw new RangeError(`prompt ${first} has no tokens`);
      return [...p];
    });
    const done = new Array<boolean>(rows).fill(false);
    for (let k = 0; k < maxNew && done.includes(false); k++) {
      const x = new Float32Array(batch * T);
      const last: number[] = [];
      for (let r = 0; r < rows; r++) {
        const window = ids[r].slice(-T);
        x.set(window, r * T);
        last.push(window.length - 1);
      }
      forward.feed({ x });
      const [l] = await forward.run([logits]);
      for (let r = 0; r < rows; r++) {
        if (done[r]) continue;
        const at = (r * T + last[r]) * V;
        let best = 0;
        for (let v = 0; v < V; v++) {
          const z = l[at + v];
          if (!Number.isFinite(z)) throw new RangeError(`logit ${v} of prompt ${first + r} is ${z}`);
          if (z > l[at + best]) best = v;
        }
        ids[r].push(best);
        out[first + r].push(best);
        if (stops.has(best)) done[r] = true;
      }
    }
  }
  return out;
}

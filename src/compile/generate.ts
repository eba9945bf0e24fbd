/** Autoregressive generation with a pretrained causal LM on the GPU, one full forward pass per token. */
import { Program } from "./program.ts";
import { Rng } from "../random.ts";
import type { Node } from "../graph/node.ts";
import type { Pretrained } from "../models/pretrained/checkpoint.ts";
import { buildPretrained } from "../models/pretrained/graph.ts";
import { pickToken, type Sampling } from "../models/pretrained/sampling.ts";

/** Options of `generate`. */
export interface GenerateOptions {
  maxNew: number;
  sampling: Sampling;
  seed: number;
  /** Tokens the model sees at once (default: its positions); longer texts keep their last `context` ids. */
  context?: number;
}

/**
 * Yields up to `maxNew` ids after `prompt`. Causal attention makes position t's logits depend only on ids up
 * to t, so a fixed-length window padded with zeros after the last id gives the same next-token logits as
 * the exact-length sequence; one program is compiled and replayed.
 */
export async function* generate(
  device: GPUDevice,
  model: Pretrained,
  prompt: readonly number[],
  options: GenerateOptions,
): AsyncGenerator<number> {
  if (prompt.length === 0) throw new RangeError("generate: the prompt has no tokens");
  const arch = model.arch;
  if (arch.family === "vit") {
    throw new RangeError(`generate: ${model.dir} is a vit model, not a language model`);
  }
  const vocab = arch.vocab;
  const bad = prompt.find((id) => !(Number.isInteger(id) && id >= 0 && id < vocab));
  if (bad !== undefined) {
    throw new RangeError(`generate: token id ${bad} is outside the vocabulary of ${vocab}`);
  }
  const T = Math.min(options.context ?? arch.positions, arch.positions);
  const graph = buildPretrained(arch, { batch: 1, context: T, domains: 1 });
  const program = await Program.compile(device, [graph.logits]);
  try {
    for (const [name, node] of graph.params) program.write(node as Node, model.weights.get(name)!);
    const rng = new Rng(options.seed);
    const ids = [...prompt];
    for (let k = 0; k < options.maxNew; k++) {
      const window = ids.slice(-T);
      const x = new Float32Array(T);
      x.set(window);
      program.write(graph.inputs.x, x);
      program.run();
      const logits = await program.read(graph.logits);
      const at = window.length - 1;
      const next = pickToken(logits.subarray(at * vocab, (at + 1) * vocab), options.sampling, rng);
      ids.push(next);
      yield next;
    }
  } finally {
    program.destroy();
  }
}

/** Autoregressive generation with a pretrained causal LM on the GPU, one full forward pass per token. */
import { Program } from "./program.ts";
import { Rng } from "../random.ts";
import { input, type Node } from "../graph/node.ts";
import { apply } from "../graph/op.ts";
import { gather } from "../graph/ops/gather.ts";
import { reshape } from "../graph/ops/reshape.ts";
import type { Pretrained } from "../models/pretrained/checkpoint.ts";
import type { PretrainedLmArch } from "../models/pretrained/arch.ts";
import { buildPretrained, type PretrainedGraph } from "../models/pretrained/graph.ts";
import { pickToken, type Sampling } from "../models/pretrained/sampling.ts";

/** Options of `generate`. */
export interface GenerateOptions {
  maxNew: number;
  sampling: Sampling;
  seed: number;
  /** Tokens the model sees at once (default: its positions); longer texts keep their last `context` ids. */
  context?: number;
}

/** The graph generation runs: the model over a window of `T` ids, and the logits [1, V] of one position. */
export interface GenerationGraph {
  graph: PretrainedGraph;
  /** The position whose next-token logits are read (an index into the window, stored as a float) [1]. */
  position: Node;
  /** Next-token logits at `position` [1, V]. */
  logits: Node;
}

/**
 * The model over one window of `T` ids with the output projection applied to the hidden row at `position`
 * only: each token reads V logits back, not T x V, and the logits' memory does not grow with the window
 * (GPT-2 small's at 1,024 positions would be 196 MiB, over one binding). The head (a matmul, or a matmul
 * with the bias in its epilogue, over the weight transposed) is taken from the model's whole-logits node;
 * a head of another form is applied to every row and the row picked from the result.
 */
export function generationGraph(arch: PretrainedLmArch, T: number): GenerationGraph {
  const graph = buildPretrained(arch, { batch: 1, context: T, domains: 1 });
  const position = input("position", [1]);
  const whole = graph.logits;
  const [hidden, ...rest] = whole.inputs;
  const V = whole.shape[whole.shape.length - 1];
  const D = hidden.shape[hidden.shape.length - 1];
  const plainHead = (whole.op === "matmul" || whole.op === "matmul_add") && whole.attrs.transB === true &&
    hidden.shape.join() === [1, T, D].join() && rest.slice(1).every((b) => b.shape.join() === [V].join());
  const logits = plainHead
    ? apply(whole.op, [gather(reshape(hidden, [T, D]), position), ...rest], whole.attrs)
    : gather(reshape(whole, [T, V]), position);
  return { graph, position, logits };
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
  const { graph, position, logits } = generationGraph(arch, T);
  const program = await Program.compile(device, [logits]);
  try {
    for (const [name, node] of graph.params) program.write(node as Node, model.weights.get(name)!);
    const rng = new Rng(options.seed);
    const ids = [...prompt];
    for (let k = 0; k < options.maxNew; k++) {
      const window = ids.slice(-T);
      const x = new Float32Array(T);
      x.set(window);
      program.write(graph.inputs.x, x);
      program.write(position, Float32Array.of(window.length - 1));
      program.run();
      const next = pickToken(await program.read(logits), options.sampling, rng);
      ids.push(next);
      yield next;
    }
  } finally {
    program.destroy();
  }
}

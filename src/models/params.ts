/** The parameter table of a model: names, shapes and initial values. */
import {
  linearModules,
  type ModelConfig,
  pretrainedArch,
  pretrainedVit,
  tokens,
  vocabSize,
} from "./config.ts";
import { PretrainedWeights } from "./pretrained/weights.ts";
import { pretrainedParams } from "./pretrained/graph.ts";
import { vitParams } from "./pretrained/vit_graph.ts";
import { normalArray, seedFor } from "./init.ts";

/** A named parameter's shape. */
export interface ParamInfo {
  name: string;
  shape: number[];
  /** Module path it belongs to (`blocks.0.attn.qkv`), used by "train only these modules" patterns. */
  module: string;
}

/** Every base parameter of a model, in a fixed order. */
export function baseParams(config: ModelConfig): ParamInfo[] {
  const vit = pretrainedVit(config);
  if (vit) return [...vitParams(vit), pretrainedHead(config)!];
  if (config.backbone === "pretrained") return pretrainedParams(pretrainedArch(config));
  const d = config.dim;
  const out: ParamInfo[] = [];
  const linears = new Map(linearModules(config).map((m) => [m.path, m]));
  const lin = (path: string) => {
    const m = linears.get(path)!;
    out.push({ name: `${path}.weight`, shape: [m.out, m.in], module: path });
    if (m.bias) out.push({ name: `${path}.bias`, shape: [m.out], module: path });
  };
  const norm = (path: string) => {
    out.push({ name: `${path}.weight`, shape: [d], module: path });
    out.push({ name: `${path}.bias`, shape: [d], module: path });
  };
  if (config.backbone === "vit") lin("patch_embed");
  else out.push({ name: "embed", shape: [vocabSize(config), d], module: "embed" });
  out.push({ name: "pos_embed", shape: [tokens(config), d], module: "pos_embed" });
  for (let i = 0; i < config.depth; i++) {
    norm(`blocks.${i}.ln1`);
    lin(`blocks.${i}.attn.qkv`);
    lin(`blocks.${i}.attn.proj`);
    norm(`blocks.${i}.ln2`);
    lin(`blocks.${i}.mlp.fc1`);
    lin(`blocks.${i}.mlp.fc2`);
  }
  norm("norm");
  if (config.backbone === "vit") {
    lin("feature");
    lin("head");
  } else lin("lm_head");
  return out;
}

/**
 * Initial values: linear weights N(0, 1/in), embeddings N(0, 0.02), norms 1 and 0, biases 0.
 * Each tensor draws from its own seed derived from its name. A pretrained model's values are its checkpoint's,
 * all read into memory here: what tests and small tools want; stages stream them instead (ownParams).
 */
export function initParams(config: ModelConfig, seed: number): Map<string, Float32Array> {
  const values = ownParams(config, seed);
  const base = pretrainedWeights(config);
  if (!base) return values;
  for (const name of base.names()) values.set(name, base.read(name));
  return values;
}

/**
 * The initial values a stage holds in memory: every parameter of a built-in model; of a pretrained one, only
 * those its checkpoint lacks (a ViT's cosine head). The checkpoint's weights stream to the GPU from
 * pretrainedWeights() a tensor at a time.
 */
export function ownParams(config: ModelConfig, seed: number): Map<string, Float32Array> {
  const head = pretrainedHead(config);
  if (config.backbone === "pretrained") {
    if (!head) return new Map();
    const [classes, dim] = head.shape;
    return new Map([[head.name, normalArray(classes * dim, 1 / Math.sqrt(dim), seedFor(seed, head.name))]]);
  }
  const values = new Map<string, Float32Array>();
  for (const p of baseParams(config)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const isNorm = /(^|\.)(ln\d|norm)\./.test(p.name) || p.name.startsWith("norm.");
    if (isNorm && p.name.endsWith(".weight")) values.set(p.name, new Float32Array(n).fill(1));
    else if (p.name.endsWith(".bias")) values.set(p.name, new Float32Array(n));
    else if (p.shape.length === 2 && p.name.endsWith(".weight")) {
      values.set(p.name, normalArray(n, 1 / Math.sqrt(p.shape[1]), seedFor(seed, p.name)));
    } else values.set(p.name, normalArray(n, 0.02, seedFor(seed, p.name)));
  }
  return values;
}

/**
 * A pretrained model's checkpoint opened for reading a tensor at a time (headers read and checked), less a
 * ViT's classifier, which the pipeline's head replaces; undefined for a built-in model.
 */
export function pretrainedWeights(config: ModelConfig): PretrainedWeights | undefined {
  if (config.backbone !== "pretrained") return undefined;
  return PretrainedWeights.open(config.pretrained).without(["classifier.weight", "classifier.bias"]);
}

/**
 * The pipeline's cosine head of a pretrained ViT, [classes, hidden], drawn like a linear layer's weight. It
 * replaces the checkpoint's `classifier`: a bias-free head on normalised features is what the margin losses
 * need, so `classifier` (a biased linear on raw features) does not initialise it.
 */
function pretrainedHead(config: ModelConfig): ParamInfo | undefined {
  const vit = pretrainedVit(config);
  if (!vit || config.backbone !== "pretrained") return undefined;
  return { name: "head.weight", shape: [config.classes ?? 0, vit.dim], module: "head" };
}

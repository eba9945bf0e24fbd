/**
 * The pipeline spec: plain, JSON-serialisable data that the builder and YAML both produce and the compiler
 * reads. Optional fields are filled by `withDefaults`, so a validated spec states every setting explicitly.
 */

import type { ModelConfig } from "../models/config.ts";

export type { LmConfig, ModelConfig, PretrainedConfig, VitConfig } from "../models/config.ts";

/** A whole experiment: data domains, one model, and the stages that train, evaluate and export it. */
export interface PipelineSpec {
  /** Names the run folder: letters, digits, `_`, `-` and `.`. */
  name: string;
  /** Root of every random choice (shuffles, splits, initialisation, dropout, sampling). */
  seed: number;
  /** Data domains by name. */
  domains: Record<string, DomainSpec>;
  /** The model every stage trains or evaluates. */
  model: ModelConfig;
  /** Stages in declaration order; the run order follows `from` (see `stageOrder`). */
  stages: Record<string, StageSpec>;
}

/** One data domain: where its examples come from and what is done to them, in order. */
export interface DomainSpec {
  /** Where the examples come from. */
  source: SourceSpec;
  /** Defaults to none. */
  transforms?: TransformSpec[];
}

/** Words of a hunspell dictionary package (`dictionary-<language>`), shuffled with the seed. */
export interface DictionarySource {
  /** Selects this source. */
  kind: "dictionary";
  /** Language code of a built-in `dictionary-*` package (`el`, `vi`, ...). */
  language: string;
  /** A model folder whose `tokenizer.json` tokenizes the text (documents packed with EOS); default bytes. */
  tokenizer?: string;
}

/** The Universal Declaration of Human Rights in one language (running text, about 10 KB). */
export interface UdhrSource {
  /** Selects this source. */
  kind: "udhr";
  /** A translation's code (`eng`), BCP 47 tag or ISO 639-3 code. */
  language: string;
  /** A model folder whose `tokenizer.json` tokenizes the text (documents packed with EOS); default bytes. */
  tokenizer?: string;
}

/** The digits shipped by the `mnist` package (28x28, values in [0, 1]). */
export interface MnistSource {
  /** Selects this source. */
  kind: "mnist";
  /** Which digits to keep; defaults to all ten, 0 to 9. */
  digits?: number[];
}

/** UTF-8 text: a file, or a folder of files (each file one document), read as a stream. */
export interface TextSource {
  /** Selects this source. */
  kind: "text";
  /** A file or a folder, relative to the current folder. */
  path: string;
  /** A model folder whose `tokenizer.json` tokenizes the text (documents packed with EOS); default bytes. */
  tokenizer?: string;
}

/**
 * How supervised examples share windows: whole examples packed several to a window ("pack"), one each
 * ("pad"), or packed as "pack" does with each example computed as if alone ("isolate": its positions restart
 * at 0 and its attention never reaches the examples before it, a block-diagonal causal mask).
 */
export type PackingMode = "pack" | "pad" | "isolate";

/**
 * A JSON Lines file (`.jsonl`, or gzipped `.jsonl.gz`) read as a stream. Each record is a document (`text`,
 * or pre-tokenized `ids`) or a supervised example (chat `messages`, Alpaca `instruction`/`input`/`output`,
 * `prompt`/`completion`) whose loss counts only the response.
 */
export interface JsonlSource {
  /** Selects this source. */
  kind: "jsonl";
  /** Path of the file, relative to the current folder. */
  path: string;
  /** Field holding a document's text; defaults to "text". */
  textField?: string;
  /** Field naming each record's domain; defaults to "domain" when `domain` is set, and needs it. */
  domainField?: string;
  /** Keep only records whose `domainField` equals this; unset, every record is read (one domain). */
  domain?: string;
  /** A model folder whose `tokenizer.json` tokenizes the text (and whose chat template renders chats); default bytes. */
  tokenizer?: string;
  /** Supervised examples only: "pack" (default), "pad" or "isolate". */
  packing?: PackingMode;
}

/**
 * Parquet: a file, or a folder of `*.parquet` files read in name order (a Hugging Face dataset's
 * `data/train-00000-of-00003.parquet`), one row group at a time; rows hold what JSONL records hold.
 */
export interface ParquetSource {
  /** Selects this source. */
  kind: "parquet";
  /** A file or a folder, relative to the current folder. */
  path: string;
  /** Column holding a document's text; defaults to "text". */
  textField?: string;
  /** Column naming each row's domain; defaults to "domain" when `domain` is set, and needs it. */
  domainField?: string;
  /** Keep only rows whose `domainField` equals this; unset, every row is read (one domain). */
  domain?: string;
  /** A model folder whose `tokenizer.json` tokenizes the text (and whose chat template renders chats); default bytes. */
  tokenizer?: string;
  /** Supervised examples only: "pack" (default), "pad" or "isolate". */
  packing?: PackingMode;
}

/** A folder of PNG or JPEG images (grey scale, resized to the model's image side). */
export interface ImagesSource {
  /** Selects this source. */
  kind: "images";
  /** Path of the folder (one subfolder per class), relative to the current folder. */
  path: string;
}

/** Where a domain's examples come from. */
export type SourceSpec =
  | DictionarySource
  | UdhrSource
  | MnistSource
  | TextSource
  | JsonlSource
  | ParquetSource
  | ImagesSource;

/** Keep the first `count` examples (after the seeded shuffle). */
export interface TakeTransform {
  /** Selects this transform. */
  kind: "take";
  /** How many examples to keep. */
  count: number;
}

/** Keep this fraction of the examples, in (0, 1]. */
export interface FractionTransform {
  /** Selects this transform. */
  kind: "fraction";
  /** The fraction to keep. */
  fraction: number;
}

/** Hold out this fraction, in (0, 1), as the domain's validation split. */
export interface SplitTransform {
  /** Selects this transform. */
  kind: "split";
  /** The fraction held out. */
  validation: number;
}

/** Lower image quality: area-downsample by `downsample` (28 / 4 = 7x7) and upsample back to full size. */
export interface DegradeTransform {
  /** Selects this transform. */
  kind: "degrade";
  /** An integer factor >= 2 that divides the image side. */
  downsample: number;
  /** Gaussian blur sigma in pixels applied after upsampling; defaults to 0 (none). */
  blur?: number;
  /** Standard deviation of added Gaussian pixel noise; defaults to 0 (none). */
  noise?: number;
}

/** Degrade a seeded `degradedFraction` of the images and keep the rest at full quality. */
export interface MixQualityTransform {
  /** Selects this transform. */
  kind: "mixQuality";
  /** The fraction of images degraded, in [0, 1]. */
  degradedFraction: number;
  /** Area-downsampling factor of the degraded images (as in `degrade`). */
  downsample: number;
}

/** A step applied to a domain's examples. */
export type TransformSpec =
  | TakeTransform
  | FractionTransform
  | SplitTransform
  | DegradeTransform
  | MixQualityTransform;

/** A temperature held for the whole stage. */
export interface ConstantSchedule {
  /** Selects this schedule. */
  kind: "constant";
  /** The temperature T (> 0). */
  temperature: number;
}

/** One phase of a step schedule: `temperature` until `until` (a fraction of the stage's steps). */
export interface SchedulePhase {
  /** End of the phase, as a fraction of the stage's steps, in (0, 1]. */
  until: number;
  /** The temperature T during the phase. */
  temperature: number;
}

/** Piecewise-constant temperatures; phase ends increase and the last is 1 (Cooldown: 5 until 0.5, then 1). */
export interface StepSchedule {
  /** Selects this schedule. */
  kind: "step";
  /** The phases, in order. */
  phases: SchedulePhase[];
}

/** A temperature moving from `from` to `to` over the stage, linearly or along a half cosine. */
export interface RampSchedule {
  /** Selects this schedule. */
  kind: "linear" | "cosine";
  /** Temperature at the first step. */
  from: number;
  /** Temperature at the last step. */
  to: number;
}

/** How the sampling temperature changes over a stage. */
export type ScheduleSpec = ConstantSchedule | StepSchedule | RampSchedule;

/** How the domains of a training stage are mixed. */
export type MixStrategy = "temperature" | "scalarization" | "weights" | "unimax";

/** The data mixture of a training stage. */
export interface MixSpec {
  /** The domains mixed, by name. */
  domains: string[];
  /**
   * - temperature: sample domain i with p(i; T) = |D_i|^(1/T) / sum_j |D_j|^(1/T);
   * - scalarization: sample proportionally and weight each example's loss by p(i; T) / p(i; 1);
   * - weights: sample with the given probabilities;
   * - unimax: spread the budget uniformly, capping each domain at `epochCap` epochs.
   */
  strategy: MixStrategy;
  /** Temperature or schedule (temperature and scalarization only); defaults to 1 (proportional). */
  temperature?: number | ScheduleSpec;
  /** Probability per mix domain (weights only). */
  weights?: Record<string, number>;
  /** Divide the weights by their sum instead of requiring a sum of 1 (weights only); defaults to false. */
  normalize?: boolean;
  /** Epochs each domain may be repeated (unimax only); defaults to 1. */
  epochCap?: number;
}

/** How the LoRA branch output is scaled. */
export type AdapterScaleSpec =
  | { kind: "alpha"; alpha: number }
  | { kind: "multiplier"; value: number }
  | { kind: "rslora"; alpha: number };

/** LoRA adapters on every linear layer matched by `targets`. */
export interface AdapterSpec {
  /** Globs over module paths (`blocks.*.attn.qkv`, `blocks.{2..3}.mlp.*`) or `/regex/`; see adapters/patterns. */
  targets: string | string[];
  /** LoRA rank r. */
  rank: number;
  /** `alpha / r`, a plain multiplier, or `alpha / sqrt(r)`; defaults to the multiplier 1. */
  scale?: AdapterScaleSpec;
  /** Dropout on the LoRA branch input, in [0, 1); defaults to 0. */
  dropout?: number;
  /** Initialisation of the down matrix A (B starts at 0); defaults to "kaiming" (PEFT's default). */
  init?: "gaussian" | "kaiming";
  /** Two quality-weighted branches (PETALface) instead of one; needs the stage's `gate`. */
  gated?: boolean;
}

/** Per-example quality score that drives gated adapters. */
export type GateScoreSpec =
  | { kind: "sharpness"; measure: "laplacian" | "gradient"; reference: string[] }
  | { kind: "stored"; field: string }
  | { kind: "domain"; levels: Record<string, number> };

/** Maps a quality score to the weight g of the "hq" branch. */
export type GateMappingSpec =
  /** g = 0.5 + (score - threshold), clamped to [0, 1] unless `clamp` is false (the released code does not clamp). */
  | { kind: "petalface"; threshold: number; clamp?: boolean }
  | { kind: "linear"; low: number; high: number }
  | { kind: "sigmoid"; center: number; temperature: number }
  | { kind: "hard"; threshold: number };

/** The quality gate of dual (gated) adapters: g = mapping(score). */
export interface GateSpec {
  /** What the gate reads: an image-quality score. */
  score: GateScoreSpec;
  /** How the score becomes the gate g in [0, 1]. */
  mapping: GateMappingSpec;
}

/** The training loss; margin losses use the cosine `head`. */
export type LossSpec =
  | { kind: "lm" }
  | { kind: "softmax" }
  | { kind: "cosface"; scale: number; margin: number }
  | { kind: "arcface"; scale: number; margin: number };

/** AdamW with optional warm-up, decay and gradient clipping. */
export interface OptimizerSpec {
  /** Selects AdamW. */
  kind: "adamw";
  /** Peak learning rate. */
  lr: number;
  /** Defaults to 0.01. */
  weightDecay?: number;
  /** Defaults to [0.9, 0.999]. */
  betas?: [number, number];
  /** Defaults to 1e-8. */
  eps?: number;
  /** Global gradient-norm clip; defaults to 0, meaning no clipping. */
  clip?: number;
  /** Linear warm-up steps; defaults to 0. */
  warmup?: number;
  /** Learning-rate decay after warm-up, to 0 at the last step; defaults to "constant". */
  decay?: "constant" | "linear" | "cosine";
}

/** Which domains a training stage measures validation loss on, and how many batches each. */
export interface ValidationSpec {
  /** Domains with a `split` transform; defaults to the mix domains that have one. */
  domains?: string[];
  /** Defaults to 4. */
  batches?: number;
}

/**
 * Folders a train stage starts from instead of another stage, one or both: a merged checkpoint of the
 * pipeline's model (`config.json` + `model.safetensors`, as `deno task merge` writes it) for the base
 * weights, and a PEFT LoRA adapter folder (a run's `<stage>/adapter`, or a stage folder holding one) for the
 * LoRA and `modules_to_save` weights.
 */
export type StartFolder = { adapter: string; checkpoint?: string } | { adapter?: string; checkpoint: string };

/** Trains the model (or its adapters) on a mixture of domains. */
export interface TrainStage {
  /** Selects this stage kind. */
  kind: "train";
  /**
   * Train stage whose final weights this one starts from, or a folder; without it the model starts from
   * scratch. An adapter folder gives the LoRA (and `modules_to_save`) starting values; the stage's adapters
   * must place the same modules at the same ranks.
   */
  from?: string | StartFolder;
  /** Derived from `from` by `withDefaults`; if given it must equal `[from]` or `[]`. */
  dependsOn?: string[];
  /** The data mixture. */
  mix: MixSpec;
  /** Defaults to none. */
  adapters?: AdapterSpec[];
  /**
   * Patterns over module or parameter paths trained fully (`["head"]`; `["*"]` is full fine-tuning).
   * Defaults to `["*"]` without adapters and to `[]` with them.
   */
  trainable?: string[];
  /** Required exactly when some adapter is gated. */
  gate?: GateSpec;
  /** The training loss. */
  loss: LossSpec;
  /** The optimizer and its schedule. */
  optimizer: OptimizerSpec;
  /** Training steps. */
  steps: number;
  /** Examples a step. */
  batch: number;
  /**
   * Gradient accumulation: the step's `batch` examples run as this many micro-batches of `batch / accumulate`,
   * their gradients summed before one optimiser step, so activations take one micro-batch's memory. The loss
   * and gradients are those of the whole batch (to float32 rounding). Must divide `batch`; defaults to 1.
   */
  accumulate?: number;
  /**
   * Activation recomputation: the backward pass recomputes the forward's values between checkpoints (the
   * residual stream after each attention and MLP) instead of keeping them from the forward pass, for the same
   * loss and gradients with less activation memory; those forward ops run twice. Default false.
   */
  recompute?: boolean;
  /** Steps between validation passes; defaults to `steps` (once, at the end). */
  evalEvery?: number;
  /** Steps between metric log lines; defaults to 10. */
  logEvery?: number;
  /** Steps between checkpoints; defaults to `steps` (once, at the end). */
  checkpointEvery?: number;
  /** Where validation loss is measured; defaults to the mix domains that have a split. */
  validation?: ValidationSpec;
  /**
   * How the step stores the frozen matmul weights (linear, attention and MLP projections, the LM head):
   * "f16" or "bf16" halve their memory (compute stays f32); "stored" keeps each as its checkpoint stores it
   * (a bf16 checkpoint stays bf16 on the GPU, exactly). Defaults to "stored" for pretrained models, "f32"
   * otherwise. Trained weights are always f32.
   */
  frozenDtype?: "f32" | "f16" | "bf16" | "stored";
}

/** What an evaluate stage measures. */
/** `perplexity` (causal LMs): e to the mean token cross-entropy of each domain's validation split. */
/**
 * `exact_match` (pretrained causal LMs, domains of supervised examples): greedy generation after each held-out
 * example's prompt, the fraction whose text equals the reference response (see `ExactMatchOptions`).
 */
export type EvaluateTask = "validation_loss" | "perplexity" | "recognition" | "exact_match";

/** Bounds of the `exact_match` task. */
export interface ExactMatchOptions {
  /** Most tokens generated per example; defaults to 32. */
  maxNewTokens?: number;
  /** The first this many held-out examples of each domain are scored; defaults to 64. */
  examples?: number;
}

/**
 * Evaluates a train stage's weights. Each domain is evaluated on its validation split, or whole when it has
 * no split (a held-out test domain).
 */
export interface EvaluateStage {
  /** Selects this stage kind. */
  kind: "evaluate";
  /** The train stage whose weights are evaluated. */
  from: string;
  /** Derived from `from` by `withDefaults`; if given it must equal `[from]`. */
  dependsOn?: string[];
  /** What to measure. */
  tasks: EvaluateTask[];
  /** Defaults to "webgpu". */
  backend?: "webgpu" | "onnxruntime";
  /** Defaults to every domain of the pipeline. */
  domains?: string[];
  /** Recognition protocols (task "recognition"); defaults to none. */
  recognition?: RecognitionSetSpec[];
  /** Bounds of the `exact_match` task. */
  exactMatch?: ExactMatchOptions;
}

/**
 * One recognition protocol, as face recognition measures it: the gallery is the class-mean embedding of the
 * `gallery` domain's training images per identity; probes are the held-out (validation) images of `probes`.
 * Reports rank-1 identification and TAR at FAR 1e-2 and 1e-3 over probe pairs.
 */
export interface RecognitionSetSpec {
  /** Names the protocol's metrics (`rank1/<name>`, ...). */
  name: string;
  /** Domain whose training images make the gallery. */
  gallery: string;
  /** Domains whose validation images are the probes. */
  probes: string[];
}

/** Writes a train stage's weights (adapters merged) as a model file. */
export interface ExportStage {
  /** Selects this stage kind. */
  kind: "export";
  /** The train stage whose weights are exported. */
  from: string;
  /** Derived from `from` by `withDefaults`; if given it must equal `[from]`. */
  dependsOn?: string[];
  /** The model file format. */
  format: "onnx";
  /** ONNX opset, 17 to 21; defaults to 17. */
  opset?: number;
}

/** One stage of a pipeline. */
export type StageSpec = TrainStage | EvaluateStage | ExportStage;

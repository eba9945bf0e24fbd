/** Every message that spec validation reports, in one place so that tests and docs can rely on the wording. */

/** Longest user string quoted whole in a message; longer ones are cut, so a message never echoes a file. */
const QUOTE_MAX = 40;

/** `"abc"`, or a prefix of a long string with its length: `"root:x:0:0:root:/root:/bin..." (1,838 characters)`. */
export function quote(text: string): string {
  if (text.length <= QUOTE_MAX) return JSON.stringify(text);
  const cut = [...text].slice(0, QUOTE_MAX - 8).join("");
  return `${JSON.stringify(cut + "...")} (${text.length.toLocaleString("en-US")} characters)`;
}

/** How a found value reads in a message: `-1`, `"abc"`, `an array`, `nothing`. */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (typeof value === "string") return quote(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.length === 0 ? "an empty array" : "an array";
  if (typeof value !== "object") return `a ${typeof value}`;
  return Object.keys(value).length === 0 ? "an empty object" : "an object";
}

/** The candidate close enough to `text` to be a typo of it (a third of its letters or fewer), if any. */
export function nearest(text: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = typoDistance(text.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(best.length / 3)) ? best : undefined;
}

/** The `count` candidates nearest to `text` by typing distance, nearest first (ties in given order). */
export function closest(text: string, candidates: readonly string[], count: number): string[] {
  const scored = candidates.map((c, i) => ({ c, i, d: typoDistance(text.toLowerCase(), c.toLowerCase()) }));
  return scored.sort((a, b) => a.d - b.d || a.i - b.i).slice(0, count).map((s) => s.c);
}

/** Edit distance where swapping two neighbouring letters counts as one edit, as typing mistakes do. */
function typoDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

const hint = (text: string, candidates: readonly string[]): string => {
  const near = nearest(text, candidates);
  return near === undefined ? "" : `; did you mean ${quote(near)}?`;
};
const listOf = (names: readonly string[]): string => names.length === 0 ? "none" : names.join(", ");

/** The messages, by kind of problem. */
export const messages = {
  /** The general form: what was expected, what was found. */
  expected: (what: string, found: unknown): string => `expected ${what}, found ${describe(found)}`,
  oneOf: (options: readonly string[], found: unknown): string =>
    `expected one of ${options.map(quote).join(", ")}, found ${describe(found)}` +
    (typeof found === "string" ? hint(found, options) : ""),
  unknownKey: (key: string, allowed: readonly string[]): string => {
    const near = nearest(key, allowed);
    return near === undefined
      ? `unknown key ${quote(key)}; expected one of: ${allowed.join(", ")}`
      : `unknown key ${quote(key)}; did you mean ${quote(near)}?`;
  },
  unknownDomain: (name: string, known: readonly string[]): string =>
    `unknown domain ${quote(name)}` + (hint(name, known) || `; known domains: ${listOf(known)}`),
  unknownStage: (name: string, known: readonly string[]): string =>
    `unknown stage ${quote(name)}` + (hint(name, known) || `; known stages: ${listOf(known)}`),
  notTrainStage: (name: string, kind: string): string =>
    `expected a train stage, found ${quote(name)} (an ${kind} stage)`,
  selfReference: (name: string): string => `expected an earlier stage, found ${quote(name)} itself`,
  cycle: (names: readonly string[]): string => `stages form a cycle: ${names.join(" -> ")}`,
  duplicate: (what: string, value: unknown): string =>
    `expected distinct ${what}, found ${describe(value)} twice`,
  duplicateName: (what: "domain" | "stage", name: string): string =>
    `${what} ${quote(name)} is defined twice; each ${what} needs its own name`,
  pipelineName: (found: unknown): string =>
    messages.expected("a name of letters, digits, '_', '-' or '.' that starts with a letter or digit", found),
  name: (found: unknown): string =>
    messages.expected("a name of letters, digits, '_' or '-' that starts with a letter", found),
  phaseOrder: (previous: number, found: number): string =>
    `expected phase ends in increasing order, found ${found} after ${previous}`,
  lastPhase: (found: unknown): string => `expected the last phase to end at 1, found ${describe(found)}`,
  weightsSum: (sum: number): string =>
    `expected weights summing to 1 (or normalize: true), found a sum of ${round(sum)}`,
  weightsZero: (): string => "expected weights with a positive sum, found a sum of 0",
  weightNotInMix: (name: string, domains: readonly string[]): string =>
    `expected a domain of this mix (${listOf(domains)}), found ${quote(name)}`,
  notUsedBy: (strategy: string, users: string): string =>
    `not used by strategy ${quote(strategy)} (only by ${users}); remove it`,
  sourceForModel: (backbone: "vit" | "lm" | "pretrained", found: string): string =>
    backbone === "vit"
      ? `expected an image source ("mnist" or "images") for a vit model, found ${quote(found)}`
      : `expected a text source ("dictionary", "udhr", "text", "jsonl" or "parquet") for ${
        lmKind(backbone)
      } model, found ${quote(found)}`,
  imageOnly: (what: string, source: string): string =>
    `expected an image domain ("mnist" or "images") for ${what}, found a ${quote(source)} domain`,
  lossForModel: (backbone: "vit" | "lm" | "pretrained", found: string): string =>
    backbone === "vit"
      ? `expected a "softmax", "cosface" or "arcface" loss for a vit model, found ${quote(found)}`
      : `expected the "lm" loss for ${lmKind(backbone)} model, found ${quote(found)}`,
  notForCheckpoint: (key: string, file: string, family: string): string =>
    `not used by a ${family} checkpoint (${file}); remove ${key}`,
  imageSide: (file: string, image: number, source: string, side: number): string =>
    `${file}: image_size ${image} differs from the ${side}-pixel images of ${
      quote(source)
    }; to resize them, add a preprocessor_config.json with "do_resize": true beside it`,
  byteVocab: (file: string, vocab: number): string =>
    `${file}: vocab_size ${vocab} is below 256; text domains are byte ids 0-255`,
  recognitionNeedsVit: (): string =>
    `expected "validation_loss" or "perplexity" for an lm model, found "recognition"`,
  onnxNeedsVit: (what: string, found: string): string =>
    `${what} supports the built-in vit model only, found ${found}`,
  exactMatchNeedsPretrainedLm: (model: string): string =>
    `expected a pretrained causal LM (with a tokenizer) for the exact_match task, found ${model}`,
  perplexityNeedsLm: (): string =>
    `expected "validation_loss" or "recognition" for a vit model, found "perplexity"`,
  multipleOf: (what: string, divisor: number, found: number): string =>
    `expected a multiple of ${what} (${divisor}), found ${found}`,
  divides: (what: string, side: number, found: number): string =>
    `expected a factor that divides ${what} (${side}), found ${found}`,
  wholeHidden: (dim: number, ratio: number): string =>
    `expected dim x mlpRatio to be a whole number, found ${dim} x ${ratio} = ${dim * ratio}`,
  secondSplit: (): string => "expected at most one split transform, found a second",
  domainFieldWithoutDomain: (): string => "expected domain to be set when domainField is, found no domain",
  nothingToTrain: (): string => "expected something to train (adapters or trainable patterns), found neither",
  gateWithoutGated: (): string => "expected an adapter with gated: true for this gate, found none",
  gatedWithoutGate: (): string => "expected a gate for the gated adapters, found nothing",
  noSplit: (domain: string): string =>
    `expected a domain with a split transform, found ${quote(domain)} (add split(...) to its transforms)`,
  missingLevel: (domain: string): string => `expected a level for mix domain ${quote(domain)}, found nothing`,
  warmup: (steps: number, found: unknown): string =>
    messages.expected(`an integer from 0 to steps - 1 (${steps - 1})`, found),
  dependsOn: (expected: readonly string[], found: unknown): string =>
    `expected ${JSON.stringify(expected)} (derived from from), found ${
      Array.isArray(found) ? JSON.stringify(found) : describe(found)
    }`,
  yamlSyntax: (message: string): string => `YAML: ${message}`,
  yamlTag: (tag: string): string =>
    `YAML: tag ${tag.replace("tag:yaml.org,2002:", "!!")} is not allowed; a pipeline holds plain data`,
  noModel: (): string => "expected a model (vit(...) or lm(...)), found nothing",
  float32: (rule: string, found: number): string =>
    `expected ${rule} that float32 can hold (magnitude ${
      Math.abs(found) > 1 ? "at most 3.4028235e38" : "at least 1.4e-45"
    }), found ${found}`,
  unsafeInteger: (rule: string, found: number): string =>
    `expected ${rule} of at most 9007199254740991 (2^53 - 1), found ${found}`,
  dictionaryLanguage: (found: string, known: readonly string[]): string =>
    `expected a dictionary language (${known.join(", ")}), found ${quote(found)}`,
  udhrLanguage: (found: string, near: readonly string[]): string =>
    `expected a udhr language code, found ${quote(found)}; closest codes: ${near.join(", ")}`,
  missingPath: (what: "folder" | "file" | "file or folder", path: string, reason: string): string =>
    `expected an existing ${what}, found ${quote(path)} (${reason})`,
  notAPipeline: (keys: readonly string[], found: unknown): string =>
    `expected a mapping with the keys ${keys.join(", ")}, found ${
      typeof found === "string"
        ? `a string of ${found.length.toLocaleString("en-US")} characters`
        : describe(found)
    }`,
  tooManyProblems: (max: number): string => `stopped after ${max} problems; fix these and validate again`,
  unknownPath: (path: string, near: readonly string[]): string =>
    `unknown spec path ${quote(path)}; closest valid paths: ${listOf(near)}`,
  badPath: (path: string): string =>
    messages.expected(`a spec path like "stages.ft.optimizer.lr" or "stages.ft.adapters[0].rank"`, path),
  zipLengths: (lengths: Record<string, number>): string =>
    `expected axes of equal length for mode "zip", found ${
      Object.entries(lengths).map(([k, n]) => `${k}: ${n}`).join(", ")
    }`,
  setSyntax: (found: string): string => messages.expected("PATH=VALUE", found),
} as const;

function round(x: number): number {
  return Math.round(x * 1e9) / 1e9;
}

function lmKind(backbone: "lm" | "pretrained"): string {
  return backbone === "lm" ? "an lm" : "a pretrained";
}

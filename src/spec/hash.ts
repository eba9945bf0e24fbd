/** Canonical JSON and hashes of specs and stages, and the order stages run in. */

import { checkpointFingerprint } from "../models/pretrained/checkpoint.ts";
import { withDefaults } from "./defaults.ts";
import { messages } from "./messages.ts";
import { joinPath, PipelineError } from "./problem.ts";
import { filesDigest } from "./_digest.ts";
import { fromStage, startFolderDigest } from "./start_folder.ts";
import type { DomainSpec, PipelineSpec, StageSpec } from "./types.ts";

/**
 * JSON with object keys sorted at every level and no whitespace, so equal data gives equal text whatever
 * order its keys were written in. Keys whose value is `undefined` are left out, as `JSON.stringify` does.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./hash.ts";
 * console.log(canonicalJson({ b: 1, a: [true, { d: null, c: "x" }] })); // {"a":[true,{"c":"x","d":null}],"b":1}
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new TypeError(`canonicalJson: expected a finite number, found ${value}`);
    }
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  throw new TypeError(`canonicalJson: expected JSON data, found a ${typeof value}`);
}

/** SHA-256 of the UTF-8 text, as 64 lowercase hex digits. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Hash of a whole spec, defaults filled first so that leaving a default out does not change it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamw, cosface, hashSpec, mnist, pipeline, temperature, train, vit } from "../../mod.ts";
 * const base = pipeline("h").seed(0).domain("d", mnist([0, 1]))
 *   .model(vit({ image: 28, patch: 7, dim: 16, depth: 1, heads: 2, mlpRatio: 2, embedDim: 8, classes: 2 }));
 * const step = { mix: temperature(["d"]), loss: cosface(), steps: 10, batch: 8 };
 * const a = base.stage("t", train({ ...step, optimizer: adamw({ lr: 1e-3 }) })).build();
 * const b = base.stage("t", train({ ...step, optimizer: adamw({ lr: 1e-3, weightDecay: 0.01 }) })).build();
 * assert.match(await hashSpec(a), /^[0-9a-f]{64}$/);
 * assert.equal(await hashSpec(b), await hashSpec(a)); // 0.01 is the default
 * ```
 */
export function hashSpec(spec: PipelineSpec): Promise<string> {
  return sha256Hex(canonicalJson(withDefaults(spec)));
}

/** A stage in run order, with the stages it needs done first. */
export interface StageStep {
  /** The stage's name. */
  name: string;
  /** What the stage does. */
  kind: StageSpec["kind"];
  /** The stages it starts from. */
  dependsOn: string[];
}

/**
 * The order to run stages in: every stage after the one it starts `from`, otherwise in declaration order.
 * Throws a `PipelineError` on an unknown `from` or a cycle (validated specs have neither).
 *
 * @example
 * ```ts
 * import { stageOrder } from "./hash.ts";
 * import type { PipelineSpec } from "./types.ts";
 * const stages = {
 *   eval: { kind: "evaluate", from: "ft", tasks: ["recognition"] },
 *   ft: { kind: "train", from: "pre" },
 *   pre: { kind: "train" },
 * } as unknown as PipelineSpec["stages"];
 * console.log(stageOrder({ stages } as PipelineSpec).map((s) => s.name)); // ["pre", "ft", "eval"]
 * ```
 */
export function stageOrder(spec: PipelineSpec): StageStep[] {
  const names = Object.keys(spec.stages);
  const order: StageStep[] = [];
  const placed = new Set<string>();
  for (const start of names) {
    const chain: string[] = [];
    for (let node: string | undefined = start; node !== undefined && !placed.has(node);) {
      if (chain.includes(node)) {
        const loop = [...chain.slice(chain.indexOf(node)), node];
        throw new PipelineError([{
          path: joinPath(joinPath("stages", node), "from"),
          message: messages.cycle(loop),
        }]);
      }
      chain.push(node);
      const from = fromStage(spec.stages[node]);
      if (from !== undefined && !Object.hasOwn(spec.stages, from)) {
        throw new PipelineError([
          { path: joinPath(joinPath("stages", node), "from"), message: messages.unknownStage(from, names) },
        ]);
      }
      node = from;
    }
    for (const name of chain.reverse()) {
      const from = fromStage(spec.stages[name]);
      order.push({ name, kind: spec.stages[name].kind, dependsOn: from === undefined ? [] : [from] });
      placed.add(name);
    }
  }
  return order;
}

/** The domains a stage reads: its mix, validation and gate domains, or the domains it evaluates. */
export function stageDomains(stage: StageSpec): string[] {
  const used = new Set<string>();
  if (stage.kind === "train") {
    stage.mix.domains.forEach((d) => used.add(d));
    stage.validation?.domains?.forEach((d) => used.add(d));
    const score = stage.gate?.score;
    if (score?.kind === "sharpness") score.reference.forEach((d) => used.add(d));
    if (score?.kind === "domain") Object.keys(score.levels).forEach((d) => used.add(d));
  }
  if (stage.kind === "evaluate") stage.domains?.forEach((d) => used.add(d));
  return [...used].sort();
}

/**
 * Hash of everything a stage's result depends on: its own settings and name, the domains it reads, the
 * model (for a pretrained one, its files' names, lengths and times too), the seed, the code version, and (recursively) the hash of the stage it starts `from`. A stage
 * whose hash is unchanged can reuse an earlier result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adamw, cosface, mnist, pipeline, stageHash, temperature, train, vit } from "../../mod.ts";
 * const base = pipeline("h").seed(0).domain("d", mnist([0, 1]))
 *   .model(vit({ image: 28, patch: 7, dim: 16, depth: 1, heads: 2, mlpRatio: 2, embedDim: 8, classes: 2 }))
 *   .stage("pre", train({ mix: temperature(["d"]), loss: cosface(), optimizer: adamw({ lr: 1e-3 }), steps: 10, batch: 8 }));
 * const ft = (lr: number) =>
 *   base.stage("ft", train({ from: "pre", mix: temperature(["d"]), loss: cosface(), optimizer: adamw({ lr }), steps: 5, batch: 8 }))
 *     .build();
 * const [a, b] = [ft(1e-3), ft(1e-2)];
 * assert.equal(await stageHash(a, "pre", "0.1.0"), await stageHash(b, "pre", "0.1.0"));
 * assert.notEqual(await stageHash(a, "ft", "0.1.0"), await stageHash(b, "ft", "0.1.0"));
 * ```
 */
export async function stageHash(spec: PipelineSpec, stage: string, codeVersion: string): Promise<string> {
  const full = withDefaults(spec);
  const memo = new Map<string, Promise<string>>();
  const hashOf = (name: string): Promise<string> => {
    let hash = memo.get(name);
    if (hash === undefined) {
      hash = hashStage(full, name, codeVersion, hashOf);
      memo.set(name, hash);
    }
    return hash;
  };
  stageOrder(full); // throws on unknown references and cycles before recursing
  if (!Object.hasOwn(full.stages, stage)) {
    throw new PipelineError([{
      path: "stages",
      message: messages.unknownStage(stage, Object.keys(full.stages)),
    }]);
  }
  return await hashOf(stage);
}

async function hashStage(
  spec: PipelineSpec,
  name: string,
  codeVersion: string,
  hashOf: (name: string) => Promise<string>,
): Promise<string> {
  const { from, dependsOn: _, ...settings } = spec.stages[name];
  const domains: Record<string, DomainSpec> = {};
  for (const d of stageDomains(spec.stages[name])) {
    const source = spec.domains[d].source;
    const dir = "tokenizer" in source ? source.tokenizer : undefined;
    // the tokenizer's files, not only its folder's name, decide the ids
    domains[d] = dir === undefined ? spec.domains[d] : {
      ...spec.domains[d],
      tokenizerDigest: await filesDigest([
        { label: "tokenizer.json", file: `${dir}/tokenizer.json` },
        { label: "tokenizer_config.json", file: `${dir}/tokenizer_config.json`, optional: true },
      ], joinPath(joinPath(joinPath("domains", d), "source"), "tokenizer")),
    } as DomainSpec;
  }
  const material = {
    codeVersion,
    seed: spec.seed,
    model: spec.model,
    // a checkpoint folder's files, not just its path, decide the result
    checkpoint: spec.model.backbone === "pretrained"
      ? checkpointFingerprint(spec.model.pretrained)
      : undefined,
    stage: name,
    settings,
    domains,
    from: from === undefined
      ? null
      : typeof from === "string"
      ? await hashOf(from)
      : { folder: await startFolderDigest(name, from) },
  };
  return sha256Hex(canonicalJson(material));
}

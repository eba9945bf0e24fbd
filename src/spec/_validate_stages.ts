/** Validation of the stages: each stage's fields, the references between them, and cycles. */

import { isCausal, type ModelConfig } from "../models/config.ts";
import type { Checker } from "./_checker.ts";
import type { DomainFacts } from "./_validate_data.ts";
import { checkTrain, TRAIN_KEYS } from "./_validate_train.ts";
import { messages } from "./messages.ts";
import { joinPath } from "./problem.ts";

const SHAPES = {
  train: TRAIN_KEYS,
  evaluate: ["from", "dependsOn", "tasks", "backend", "domains", "recognition", "exactMatch"],
  export: ["from", "dependsOn", "format", "opset"],
} as const;

const TASKS = ["validation_loss", "perplexity", "recognition", "exact_match"] as const;

/** Checks `stages`: every stage, every `from`, the derived `dependsOn`, and that `from` links form no cycle. */
export function checkStages(
  check: Checker,
  value: unknown,
  data: DomainFacts,
  model: ModelConfig | undefined,
): void {
  const stages = check.map("stages", value);
  if (stages === undefined) return;
  const names = Object.keys(stages);
  if (names.length === 0) check.add("stages", messages.expected("at least one stage", stages));

  const variants = new Map<string, { kind: keyof typeof SHAPES; fields: Record<string, unknown> }>();
  for (const name of names) {
    const path = joinPath("stages", name);
    check.name(path, name);
    const variant = check.variant(path, stages[name], SHAPES);
    if (variant !== undefined) variants.set(name, variant);
  }

  const edges = new Map<string, string>();
  for (const [name, { kind, fields }] of variants) {
    const path = joinPath("stages", name);
    const at = (key: string): string => joinPath(path, key);
    const folder = kind === "train" && typeof fields.from === "object" && fields.from !== null;
    const fromOk = folder
      ? checkStartFolder(check, at("from"), fields.from)
      : checkFrom(check, at("from"), fields.from, kind !== "train", name, names, variants);
    if (fromOk && typeof fields.from === "string") edges.set(name, fields.from);
    if (fromOk && fields.dependsOn !== undefined) {
      const derived = typeof fields.from === "string" ? [fields.from] : [];
      if (JSON.stringify(fields.dependsOn) !== JSON.stringify(derived)) {
        check.add(at("dependsOn"), messages.dependsOn(derived, fields.dependsOn));
      }
    }
    if (kind === "train") checkTrain(check, path, fields, data, model);
    if (kind === "evaluate") checkEvaluate(check, path, fields, data, model);
    if (kind === "export") {
      // the ONNX graph is written from the built-in ViT's layout; say so before any stage trains
      if (model !== undefined && model.backbone !== "vit") {
        check.add(path, messages.onnxNeedsVit("ONNX export", modelName(model)));
      }
      check.oneOf(at("format"), fields.format, ["onnx"]);
      check.number(at("opset"), fields.opset, { integer: true, min: 17, max: 21 }, false);
    }
  }
  reportCycles(check, names, edges);
}

/** Checks a train stage's `from: { adapter: DIR, checkpoint: DIR }` (one or both). */
function checkStartFolder(check: Checker, path: string, value: unknown): boolean {
  const fields = check.record(path, value, ["adapter", "checkpoint"]);
  if (fields === undefined) return false;
  const keys = Object.keys(fields).filter((k) => k === "adapter" || k === "checkpoint");
  if (keys.length === 0) {
    check.add(path, messages.expected("adapter: DIR and/or checkpoint: DIR", value));
    return false;
  }
  return keys.every((k) => check.string(joinPath(path, k), fields[k]) !== undefined) &&
    Object.keys(fields).length === keys.length;
}

/** Checks a `from` reference; true when it is absent (and optional) or names another train stage. */
function checkFrom(
  check: Checker,
  path: string,
  value: unknown,
  required: boolean,
  self: string,
  names: readonly string[],
  stages: ReadonlyMap<string, { kind: string }>,
): boolean {
  if (value === undefined && !required) return true;
  if (typeof value !== "string") {
    check.add(path, messages.expected("a train stage name", value));
    return false;
  }
  if (value === self) {
    check.add(path, messages.selfReference(value));
    return false;
  }
  if (!names.includes(value)) {
    check.add(path, messages.unknownStage(value, names));
    return false;
  }
  // a stage without a valid kind was reported already
  const target = stages.get(value);
  if (target === undefined) return false;
  if (target.kind !== "train") {
    check.add(path, messages.notTrainStage(value, target.kind));
    return false;
  }
  return true;
}

function checkEvaluate(
  check: Checker,
  path: string,
  fields: Record<string, unknown>,
  data: DomainFacts,
  model: ModelConfig | undefined,
): void {
  const at = (key: string): string => joinPath(path, key);
  const tasks = check.array(at("tasks"), fields.tasks);
  if (tasks !== undefined && tasks.length === 0) {
    check.add(at("tasks"), messages.expected("at least one task", tasks));
  }
  tasks?.forEach((task, i) => {
    const taskPath = joinPath(at("tasks"), i);
    if (tasks.indexOf(task) < i) return check.add(taskPath, messages.duplicate("tasks", task));
    const kind = check.oneOf(taskPath, task, TASKS);
    if (kind === "recognition" && model !== undefined && isCausal(model)) {
      check.add(taskPath, messages.recognitionNeedsVit());
    }
    if (kind === "perplexity" && model !== undefined && !isCausal(model)) {
      check.add(taskPath, messages.perplexityNeedsLm());
    }
    if (
      kind === "exact_match" && model !== undefined && !(model.backbone === "pretrained" && isCausal(model))
    ) {
      check.add(taskPath, messages.exactMatchNeedsPretrainedLm(modelName(model)));
    }
  });
  const em = check.record(at("exactMatch"), fields.exactMatch, ["maxNewTokens", "examples"], false);
  if (em) {
    check.number(joinPath(at("exactMatch"), "maxNewTokens"), em.maxNewTokens, {
      integer: true,
      min: 1,
      max: 4096,
    }, false);
    check.number(joinPath(at("exactMatch"), "examples"), em.examples, {
      integer: true,
      min: 1,
      max: 1_000_000,
    }, false);
  }
  const backend = check.oneOf(at("backend"), fields.backend, ["webgpu", "onnxruntime"], false);
  if (backend === "onnxruntime" && model !== undefined && model.backbone !== "vit") {
    check.add(at("backend"), messages.onnxNeedsVit("the onnxruntime backend", modelName(model)));
  }
  if (fields.domains !== undefined) {
    check.names(at("domains"), fields.domains, data.names, messages.unknownDomain, "domain");
  }
  const sets = check.array(at("recognition"), fields.recognition, false);
  sets?.forEach((set, i) => {
    const setPath = joinPath(at("recognition"), i);
    const f = check.record(setPath, set, ["name", "gallery", "probes"]);
    if (!f) return;
    const name = check.string(joinPath(setPath, "name"), f.name);
    if (name !== undefined) check.name(joinPath(setPath, "name"), name);
    const gallery = check.string(joinPath(setPath, "gallery"), f.gallery);
    if (gallery !== undefined && !data.names.includes(gallery)) {
      check.add(joinPath(setPath, "gallery"), messages.unknownDomain(gallery, data.names));
    }
    check.names(joinPath(setPath, "probes"), f.probes, data.names, messages.unknownDomain, "domain");
  });
  if (tasks?.includes("recognition") && !(sets && sets.length > 0)) {
    check.add(
      at("recognition"),
      messages.expected("at least one recognition set for the recognition task", sets),
    );
  }
}

/** Each stage has at most one `from`, so cycles are loops of a chain; each is reported once. */
function reportCycles(check: Checker, names: readonly string[], edges: ReadonlyMap<string, string>): void {
  const done = new Set<string>();
  for (const start of names) {
    const chain: string[] = [];
    let node: string | undefined = start;
    while (node !== undefined && !done.has(node) && !chain.includes(node)) {
      chain.push(node);
      node = edges.get(node);
    }
    if (node !== undefined && chain.includes(node)) {
      const loop = chain.slice(chain.indexOf(node));
      const first = names.find((n) => loop.includes(n))!;
      const rotated = [...loop.slice(loop.indexOf(first)), ...loop.slice(0, loop.indexOf(first))];
      check.add(joinPath(joinPath("stages", first), "from"), messages.cycle([...rotated, first]));
    }
    chain.forEach((n) => done.add(n));
  }
}

/** How a problem names the pipeline's model. */
function modelName(model: ModelConfig): string {
  return model.backbone === "pretrained"
    ? "a pretrained checkpoint (model.pretrained)"
    : `an ${model.backbone} model`;
}

/** Validation of a train stage: adapters, trainable patterns, gate, loss, optimizer and schedule of work. */

import { placeAdapters, selectParameters } from "../adapters/placement.ts";
import { isCausal, isImageModel, linearModules, type ModelConfig } from "../models/config.ts";
import { type Checker, COUNT, NON_NEGATIVE, POSITIVE } from "./_checker.ts";
import { parameterNames } from "./_parameters.ts";
import { type DomainFacts, isImageSource } from "./_validate_data.ts";
import { checkMix } from "./_validate_mix.ts";
import { messages } from "./messages.ts";
import { joinPath } from "./problem.ts";

/** The keys a train stage may have. */
export const TRAIN_KEYS = [
  "from",
  "dependsOn",
  "mix",
  "adapters",
  "trainable",
  "gate",
  "loss",
  "optimizer",
  "steps",
  "batch",
  "accumulate",
  "recompute",
  "evalEvery",
  "logEvery",
  "checkpointEvery",
  "validation",
  "frozenDtype",
] as const;

const ADAPTER_KEYS = ["targets", "rank", "scale", "dropout", "init", "gated"] as const;
const SCALES = { alpha: ["alpha"], multiplier: ["value"], rslora: ["alpha"] } as const;
const SCORES = { sharpness: ["measure", "reference"], stored: ["field"], domain: ["levels"] } as const;
const MAPPINGS = {
  petalface: ["threshold", "clamp"],
  linear: ["low", "high"],
  sigmoid: ["center", "temperature"],
  hard: ["threshold"],
} as const;
const LOSSES = { lm: [], softmax: [], cosface: ["scale", "margin"], arcface: ["scale", "margin"] } as const;
const OPTIMIZER_KEYS = ["kind", "lr", "weightDecay", "betas", "eps", "clip", "warmup", "decay"] as const;
const ANY_NUMBER = {};

/** Checks the fields of a train stage at `path` (its kind and `from` are checked by the caller). */
export function checkTrain(
  check: Checker,
  path: string,
  fields: Record<string, unknown>,
  data: DomainFacts,
  model: ModelConfig | undefined,
): void {
  const at = (key: string): string => joinPath(path, key);
  const mixDomains = checkMix(check, at("mix"), fields.mix, data.names);
  const gated = checkAdapters(check, at("adapters"), fields.adapters, model);
  const trainable = checkTrainable(check, at("trainable"), fields.trainable, model);
  const adapterCount = Array.isArray(fields.adapters) ? fields.adapters.length : 0;
  if (trainable?.length === 0 && adapterCount === 0) check.add(at("trainable"), messages.nothingToTrain());

  if (fields.gate === undefined && gated === true) check.add(at("gate"), messages.gatedWithoutGate());
  if (fields.gate !== undefined) {
    if (gated === false) check.add(at("gate"), messages.gateWithoutGated());
    checkGate(check, at("gate"), fields.gate, data, mixDomains);
  }
  checkLoss(check, at("loss"), fields.loss, model);
  const steps = check.number(at("steps"), fields.steps, COUNT);
  checkOptimizer(check, at("optimizer"), fields.optimizer, steps);
  const batch = check.number(at("batch"), fields.batch, COUNT);
  const accumulate = check.number(at("accumulate"), fields.accumulate, COUNT, false);
  if (batch !== undefined && accumulate !== undefined && batch % accumulate !== 0) {
    check.add(at("accumulate"), messages.divides("batch", batch, accumulate));
  }
  if (fields.recompute !== undefined) check.boolean(at("recompute"), fields.recompute);
  for (const key of ["evalEvery", "logEvery", "checkpointEvery"]) {
    check.number(at(key), fields[key], COUNT, false);
  }
  checkValidation(check, at("validation"), fields.validation, data);
  check.oneOf(at("frozenDtype"), fields.frozenDtype, ["f32", "f16", "bf16", "stored"], false);
}

/**
 * Checks each adapter and, with a valid model, that its patterns place. Returns whether any is gated, or
 * `undefined` when that cannot be told (so a gate is not blamed for an adapter's own problem).
 */
function checkAdapters(
  check: Checker,
  path: string,
  value: unknown,
  model: ModelConfig | undefined,
): boolean | undefined {
  if (value !== undefined && !Array.isArray(value)) {
    check.add(path, messages.expected("an array", value));
    return undefined;
  }
  const list: unknown[] = value ?? [];
  let gated: boolean | undefined = false;
  const placeable: { index: number; targets: string[] }[] = [];
  list.forEach((adapter, i) => {
    const adapterPath = joinPath(path, i);
    const fields = check.record(adapterPath, adapter, ADAPTER_KEYS);
    if (fields === undefined) {
      if (gated === false) gated = undefined;
      return;
    }
    const at = (key: string): string => joinPath(adapterPath, key);
    const targets = checkTargets(check, at("targets"), fields.targets);
    if (targets !== undefined) placeable.push({ index: i, targets });
    check.number(at("rank"), fields.rank, COUNT);
    const scale = check.variant(at("scale"), fields.scale, SCALES, false);
    if (scale !== undefined) {
      const key = scale.kind === "multiplier" ? "value" : "alpha";
      check.number(joinPath(at("scale"), key), scale.fields[key], POSITIVE);
    }
    check.number(at("dropout"), fields.dropout, { min: 0, below: 1 }, false);
    check.oneOf(at("init"), fields.init, ["gaussian", "kaiming"], false);
    const g = fields.gated === undefined ? false : check.boolean(at("gated"), fields.gated);
    if (g === true) gated = true;
    else if (g === undefined && gated === false) gated = undefined;
  });
  if (model !== undefined && placeable.length > 0) {
    const adapters = placeable.map((a) => ({ targets: a.targets, rank: 1 }));
    for (const problem of placeAdapters(adapters, linearModules(model)).problems) {
      if (problem.field !== "targets") continue;
      const { index, targets } = placeable[problem.index];
      const targetsPath = joinPath(joinPath(path, index), "targets");
      const k = targets.indexOf(problem.pattern);
      const written = (list[index] as Record<string, unknown>).targets;
      // placement numbers adapters within the list it was given; renumber to the stage's own list
      const message = problem.message.replace(
        /adapters\[(\d+)\]/g,
        (_, j) => `adapters[${placeable[+j].index}]`,
      );
      check.add(Array.isArray(written) && k >= 0 ? joinPath(targetsPath, k) : targetsPath, message);
    }
  }
  return gated;
}

function checkTargets(check: Checker, path: string, value: unknown): string[] | undefined {
  if (typeof value === "string") return check.string(path, value) === undefined ? undefined : [value];
  const list = check.array(path, value);
  if (list === undefined) return undefined;
  if (list.length === 0) {
    check.add(path, messages.expected("at least one pattern", list));
    return undefined;
  }
  const ok = list.map((p, i) => check.string(joinPath(path, i), p) !== undefined).every(Boolean);
  return ok ? list as string[] : undefined;
}

/** Checks trainable patterns; returns them when well-formed. */
function checkTrainable(
  check: Checker,
  path: string,
  value: unknown,
  model: ModelConfig | undefined,
): string[] | undefined {
  const list = check.array(path, value, false);
  if (list === undefined) return undefined;
  const ok = list.map((p, i) => check.string(joinPath(path, i), p) !== undefined).every(Boolean);
  if (!ok) return undefined;
  const patterns = list as string[];
  if (model !== undefined) {
    for (const problem of selectParameters(patterns, parameterNames(model)).problems) {
      check.add(joinPath(path, problem.index), problem.message);
    }
  }
  return patterns;
}

function checkGate(
  check: Checker,
  path: string,
  value: unknown,
  data: DomainFacts,
  mixDomains: readonly string[],
): void {
  const fields = check.record(path, value, ["score", "mapping"]);
  if (fields === undefined) return;
  const scorePath = joinPath(path, "score");
  const score = check.variant(scorePath, fields.score, SCORES);
  const at = (key: string): string => joinPath(scorePath, key);
  if (score?.kind === "sharpness") {
    check.oneOf(at("measure"), score.fields.measure, ["laplacian", "gradient"]);
    const reference = at("reference");
    const names = check.names(
      reference,
      score.fields.reference,
      data.names,
      messages.unknownDomain,
      "domain",
    );
    names?.forEach((name, i) => {
      const source = data.sources.get(name);
      if (source !== undefined && !isImageSource(source)) {
        check.add(joinPath(reference, i), messages.imageOnly("a sharpness score", source));
      }
    });
  }
  if (score?.kind === "stored") check.string(at("field"), score.fields.field);
  if (score?.kind === "domain") {
    const levels = check.map(at("levels"), score.fields.levels);
    if (levels !== undefined) {
      for (const [name, level] of Object.entries(levels)) {
        const levelPath = joinPath(at("levels"), name);
        if (!data.names.includes(name)) check.add(levelPath, messages.unknownDomain(name, data.names));
        else check.number(levelPath, level, ANY_NUMBER);
      }
      for (const name of mixDomains) {
        if (!Object.hasOwn(levels, name)) check.add(at("levels"), messages.missingLevel(name));
      }
    }
  }
  const mappingPath = joinPath(path, "mapping");
  const mapping = check.variant(mappingPath, fields.mapping, MAPPINGS);
  if (mapping === undefined) return;
  const m = mapping.fields;
  const mat = (key: string): string => joinPath(mappingPath, key);
  if (mapping.kind === "petalface" || mapping.kind === "hard") {
    check.number(mat("threshold"), m.threshold, ANY_NUMBER);
  }
  if (mapping.kind === "petalface") check.boolean(mat("clamp"), m.clamp);
  if (mapping.kind === "sigmoid") {
    check.number(mat("center"), m.center, ANY_NUMBER);
    check.number(mat("temperature"), m.temperature, POSITIVE);
  }
  if (mapping.kind === "linear") {
    const low = check.number(mat("low"), m.low, ANY_NUMBER);
    if (low === undefined) check.number(mat("high"), m.high, ANY_NUMBER);
    else check.number(mat("high"), m.high, { above: low });
  }
}

function checkLoss(check: Checker, path: string, value: unknown, model: ModelConfig | undefined): void {
  const loss = check.variant(path, value, LOSSES);
  if (loss === undefined) return;
  if (loss.kind === "cosface" || loss.kind === "arcface") {
    check.number(joinPath(path, "scale"), loss.fields.scale, POSITIVE);
    check.number(joinPath(path, "margin"), loss.fields.margin, NON_NEGATIVE);
  }
  if (model !== undefined && (loss.kind === "lm") !== isCausal(model)) {
    check.add(
      joinPath(path, "kind"),
      messages.lossForModel(isImageModel(model) ? "vit" : model.backbone, loss.kind),
    );
  }
}

function checkOptimizer(check: Checker, path: string, value: unknown, steps: number | undefined): void {
  const fields = check.record(path, value, OPTIMIZER_KEYS);
  if (fields === undefined) return;
  const at = (key: string): string => joinPath(path, key);
  check.oneOf(at("kind"), fields.kind, ["adamw"]);
  check.number(at("lr"), fields.lr, POSITIVE);
  check.number(at("weightDecay"), fields.weightDecay, NON_NEGATIVE, false);
  if (fields.betas !== undefined) {
    const betas = fields.betas;
    const ok = Array.isArray(betas) && betas.length === 2 &&
      betas.every((b) => typeof b === "number" && b >= 0 && b < 1);
    if (!ok) check.add(at("betas"), messages.expected("two numbers in [0, 1)", betas));
  }
  check.number(at("eps"), fields.eps, POSITIVE, false);
  check.number(at("clip"), fields.clip, NON_NEGATIVE, false);
  if (fields.warmup !== undefined) {
    const w = fields.warmup;
    const ok = typeof w === "number" && Number.isInteger(w) && w >= 0 && (steps === undefined || w < steps);
    if (!ok && steps !== undefined) check.add(at("warmup"), messages.warmup(steps, w));
    else if (!ok) check.number(at("warmup"), w, { integer: true, min: 0 });
  }
  check.oneOf(at("decay"), fields.decay, ["constant", "linear", "cosine"], false);
}

function checkValidation(check: Checker, path: string, value: unknown, data: DomainFacts): void {
  const fields = check.record(path, value, ["domains", "batches"], false);
  if (fields === undefined) return;
  const domainsPath = joinPath(path, "domains");
  if (fields.domains !== undefined) {
    const names = check.names(
      domainsPath,
      fields.domains,
      data.names,
      messages.unknownDomain,
      "domain",
      true,
    );
    names?.forEach((name, i) => {
      if (!data.split.has(name)) check.add(joinPath(domainsPath, i), messages.noSplit(name));
    });
  }
  check.number(joinPath(path, "batches"), fields.batches, COUNT, false);
}

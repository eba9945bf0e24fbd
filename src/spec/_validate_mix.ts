/** Validation of a training stage's mixture and temperature schedule. */

import { type Checker, NON_NEGATIVE, POSITIVE } from "./_checker.ts";
import { messages } from "./messages.ts";
import { joinPath } from "./problem.ts";

const MIX_KEYS = ["domains", "strategy", "temperature", "weights", "normalize", "epochCap"] as const;
const STRATEGIES = ["temperature", "scalarization", "weights", "unimax"] as const;

/** Which strategies use each optional key, as the message names them. */
const USED_BY: Record<string, { strategies: readonly string[]; users: string }> = {
  temperature: { strategies: ["temperature", "scalarization"], users: `"temperature" and "scalarization"` },
  weights: { strategies: ["weights"], users: `"weights"` },
  normalize: { strategies: ["weights"], users: `"weights"` },
  epochCap: { strategies: ["unimax"], users: `"unimax"` },
};

const SCHEDULES = {
  constant: ["temperature"],
  step: ["phases"],
  linear: ["from", "to"],
  cosine: ["from", "to"],
} as const;

/** Checks a mix; returns its domains (when valid) so that later checks can relate to them. */
export function checkMix(check: Checker, path: string, value: unknown, known: readonly string[]): string[] {
  const fields = check.record(path, value, MIX_KEYS);
  if (fields === undefined) return [];
  const at = (key: string): string => joinPath(path, key);
  const domains = check.names(at("domains"), fields.domains, known, messages.unknownDomain, "domain") ?? [];
  const strategy = check.oneOf(at("strategy"), fields.strategy, STRATEGIES);
  if (strategy === undefined) return domains;

  for (const [key, use] of Object.entries(USED_BY)) {
    if (fields[key] !== undefined && !use.strategies.includes(strategy)) {
      check.add(at(key), messages.notUsedBy(strategy, use.users));
    }
  }
  if (strategy === "temperature" || strategy === "scalarization") {
    checkTemperature(check, at("temperature"), fields.temperature);
  } else if (strategy === "unimax") {
    check.number(at("epochCap"), fields.epochCap, POSITIVE, false);
  } else {
    const normalize = check.boolean(at("normalize"), fields.normalize) ?? false;
    checkWeights(check, at("weights"), fields.weights, domains, normalize);
  }
  return domains;
}

/** A temperature: a number > 0 or a schedule. */
export function checkTemperature(check: Checker, path: string, value: unknown): void {
  if (value === undefined || typeof value === "number") {
    check.number(path, value, POSITIVE, false);
    return;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    check.add(path, messages.expected("a number > 0 or a schedule", value));
    return;
  }
  const variant = check.variant(path, value, SCHEDULES);
  if (variant === undefined) return;
  const { kind, fields } = variant;
  const at = (key: string): string => joinPath(path, key);
  if (kind === "constant") check.number(at("temperature"), fields.temperature, POSITIVE);
  if (kind === "linear" || kind === "cosine") {
    check.number(at("from"), fields.from, POSITIVE);
    check.number(at("to"), fields.to, POSITIVE);
  }
  if (kind === "step") checkPhases(check, at("phases"), fields.phases);
}

function checkPhases(check: Checker, path: string, value: unknown): void {
  const phases = check.array(path, value);
  if (phases === undefined) return;
  if (phases.length === 0) {
    check.add(path, messages.expected("at least one phase", phases));
    return;
  }
  let previous: number | undefined;
  phases.forEach((phase, i) => {
    const phasePath = joinPath(path, i);
    const fields = check.record(phasePath, phase, ["until", "temperature"]);
    if (fields === undefined) return;
    check.number(joinPath(phasePath, "temperature"), fields.temperature, POSITIVE);
    const untilPath = joinPath(phasePath, "until");
    const until = check.number(untilPath, fields.until, { above: 0, max: 1 });
    if (until === undefined) return;
    if (previous !== undefined && until <= previous) {
      check.add(untilPath, messages.phaseOrder(previous, until));
    } else if (i === phases.length - 1 && until !== 1) check.add(untilPath, messages.lastPhase(until));
    previous = until;
  });
}

function checkWeights(
  check: Checker,
  path: string,
  value: unknown,
  domains: readonly string[],
  normalize: boolean,
): void {
  const weights = check.map(path, value);
  if (weights === undefined) return;
  let sum = 0;
  let complete = true;
  for (const [name, weight] of Object.entries(weights)) {
    if (!domains.includes(name)) {
      check.add(joinPath(path, name), messages.weightNotInMix(name, domains));
      complete = false;
      continue;
    }
    const w = check.number(joinPath(path, name), weight, NON_NEGATIVE);
    if (w === undefined) complete = false;
    else sum += w;
  }
  for (const name of domains) {
    if (!Object.hasOwn(weights, name)) {
      check.add(joinPath(path, name), messages.expected("a number >= 0", undefined));
      complete = false;
    }
  }
  if (!complete) return;
  if (normalize && sum <= 0) check.add(path, messages.weightsZero());
  if (!normalize && Math.abs(sum - 1) > 1e-6) check.add(path, messages.weightsSum(sum));
}

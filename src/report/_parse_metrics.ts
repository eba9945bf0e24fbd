/** Parses `metrics.jsonl`: one JSON record a line, typed by its `type` field. */
import * as check from "./_check.ts";
import { ReportInputError } from "./errors.ts";
import type { GateHistogram, StageMetrics, TrainRecord } from "./types.ts";

function parseHistogram(value: unknown, where: string): GateHistogram {
  const o = check.object(value, where);
  const edges = check.numbers(o.edges, `${where}.edges`);
  const counts = check.numbers(o.counts, `${where}.counts`);
  if (edges.length !== counts.length + 1) {
    throw new ReportInputError(
      `${where}: expected ${counts.length + 1} edges for ${counts.length} counts, found ${edges.length}`,
    );
  }
  return { edges, counts };
}

function parseTrain(o: Record<string, unknown>, step: number, where: string): TrainRecord {
  const num = (key: string) => check.optional(o[key], (v) => check.number(v, `${where}: ${key}`));
  const rec = (key: string) => check.optional(o[key], (v) => check.numberRecord(v, `${where}: ${key}`));
  return {
    type: "train",
    step,
    loss: num("loss"),
    lr: num("lr"),
    // null: a mix without a temperature (weights, UniMax)
    temperature: o.temperature === null ? undefined : num("temperature"),
    probabilities: rec("probabilities"),
    domainLoss: rec("domainLoss"),
    epochs: rec("epochs"),
    samplesPerSec: num("samplesPerSec"),
  };
}

/** The `ignored` key counting an unterminated, unparsable last line (a run still writing). */
export const INCOMPLETE = "incomplete last line";

/** Parses the text of a `metrics.jsonl`; `path` names the file in errors (`path:line: ...`). */
export function parseMetrics(text: string, path: string): StageMetrics {
  const out: StageMetrics = { train: [], evals: [], gates: [], ignored: {} };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const where = `${path}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      // A stage still training may be mid-append: an unterminated last line is shown as skipped, not fatal.
      if (i === lines.length - 1 && !text.endsWith("\n")) {
        out.ignored[INCOMPLETE] = 1;
        continue;
      }
      throw new ReportInputError(
        `${where}: expected one JSON object, found unparsable text (${(e as Error).message})`,
      );
    }
    const o = check.object(value, where);
    const type = check.string(o.type, `${where}: type`);
    const step = check.number(o.step, `${where}: step`);
    if (type === "train") out.train.push(parseTrain(o, step, where));
    else if (type === "eval") {
      out.evals.push({
        type,
        step,
        validationLoss: check.numberRecord(o.validationLoss, `${where}: validationLoss`),
      });
    } else if (type === "gate") {
      const hist = check.object(o.histogram, `${where}: histogram`);
      const histogram: Record<string, GateHistogram> = {};
      for (const [domain, h] of Object.entries(hist)) {
        histogram[domain] = parseHistogram(h, `${where}: histogram.${domain}`);
      }
      out.gates.push({ type, step, histogram });
    } else out.ignored[type] = (out.ignored[type] ?? 0) + 1;
  }
  return out;
}

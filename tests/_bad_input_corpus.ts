/**
 * A corpus of broken pipeline inputs, built systematically from one valid pipeline that uses nearly every key:
 * each leaf given a value of the wrong type, each number pushed out of range (and out of float32), each
 * object given an unknown key, plus references, data files, encodings, YAML syntax, flags and TS modules.
 * Every case must give exit 2 and one line per problem that names its place.
 */
import { stringify } from "yaml";
import {
  type BadInput,
  BASE,
  DELETE,
  type Json,
  LM,
  setAt,
  specPath,
  type Step,
  walk,
} from "./_bad_input_base.ts";

export { type BadInput, BASE, LM };

/** Keys whose integer-ness is checked (a fraction there is a problem). */
const INTEGER_KEYS = new Set([
  "seed",
  "count",
  "downsample",
  "image",
  "patch",
  "dim",
  "depth",
  "heads",
  "embedDim",
  "classes",
  "rank",
  "steps",
  "batch",
  "evalEvery",
  "logEvery",
  "checkpointEvery",
  "warmup",
  "batches",
  "opset",
]);
/** Numbers that may be negative. */
const ANY_SIGN = new Set(["threshold"]);
/** Keys that must be present (deleting one is a problem). */
const REQUIRED = [
  "name",
  "seed",
  "domains",
  "model",
  "stages",
  "domains.old.source",
  "domains.old.source.kind",
  "model.dim",
  "model.heads",
  "stages.pre.kind",
  "stages.pre.mix",
  "stages.pre.mix.domains",
  "stages.pre.loss",
  "stages.pre.optimizer",
  "stages.pre.optimizer.lr",
  "stages.pre.steps",
  "stages.pre.batch",
  "stages.ft.gate",
  "stages.ft.adapters[0].targets",
  "stages.ft.adapters[0].rank",
  "stages.check.from",
  "stages.check.tasks",
  "stages.onnx.format",
  "stages.ft.mix.weights",
  "stages.ft.gate.mapping.threshold",
];

/** The systematic part: types, ranges, unknown keys and missing keys of every path in `BASE`. */
export function specCases(): BadInput[] {
  const cases: BadInput[] = [];
  const add = (label: string, spec: Json, names: string) => cases.push({ label, content: { spec }, names });
  for (const [path, value] of walk(BASE)) {
    const p = specPath(path);
    const key = String(path[path.length - 1]);
    // a value of the wrong type: numbers get text, text a number, lists a number, objects text
    const wrong = typeof value === "number" || typeof value === "boolean" ||
        (typeof value === "object" && !Array.isArray(value))
      ? "x"
      : Array.isArray(value)
      ? 7
      : 42;
    add(`type ${p}`, setAt(BASE, path, wrong), p);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      add(`unknown key in ${p}`, setAt(BASE, [...path, "bogus_key"], 1), p);
    }
    if (typeof value === "number") {
      add(`float32 overflow ${p}`, setAt(BASE, path, 1e39), p);
      if (!ANY_SIGN.has(key)) add(`negative ${p}`, setAt(BASE, path, -1), p);
      if (INTEGER_KEYS.has(key) || path.includes("digits")) add(`fraction ${p}`, setAt(BASE, path, 2.5), p);
    }
  }
  for (const p of REQUIRED) {
    const path = walk(BASE).find(([q]) => specPath(q) === p)![0];
    add(`missing ${p}`, setAt(BASE, path, DELETE), p.replace(/\.[^.[]+$|\[\d+\]$/, "") || p);
  }
  return cases;
}

/** References between keys: domains, stages, splits, cycles. */
export function referenceCases(): BadInput[] {
  const edit = (label: string, path: Step[], value: Json, names: string): BadInput => ({
    label,
    content: { spec: setAt(BASE, path, value) },
    names,
  });
  return [
    edit("unknown mix domain", ["stages", "pre", "mix", "domains"], ["olf"], "stages.pre.mix.domains[0]"),
    edit(
      "duplicate mix domain",
      ["stages", "ft", "mix", "domains"],
      ["old", "old"],
      "stages.ft.mix.domains[1]",
    ),
    edit("unknown from", ["stages", "ft", "from"], "prex", "stages.ft.from"),
    edit("from itself", ["stages", "ft", "from"], "ft", "stages.ft.from"),
    edit("from an evaluate stage", ["stages", "onnx", "from"], "check", "stages.onnx.from"),
    edit("from constructor", ["stages", "ft", "from"], "constructor", "stages.ft.from"),
    edit("cycle", ["stages", "pre", "from"], "ft", "stages.pre.from"),
    edit(
      "validation domain without split",
      ["domains", "old", "transforms"],
      [{ kind: "take", count: 10 }],
      "stages.pre.validation.domains[0]",
    ),
    edit("weight for a domain outside the mix", ["stages", "ft", "mix", "weights"], {
      old: 0.2,
      low: 0.7,
      x: 0.1,
    }, "stages.ft.mix.weights.x"),
    edit(
      "weights missing constructor",
      ["stages", "ft", "mix", "domains"],
      ["old", "low", "constructor"],
      "stages.ft.mix.domains[2]",
    ),
    edit(
      "weights not summing to 1",
      ["stages", "ft", "mix", "weights"],
      { old: 0.2, low: 0.7 },
      "stages.ft.mix.weights",
    ),
    edit("adapter pattern matching nothing", ["stages", "ft", "adapters", 0, "targets"], [
      "blocks.*.attn.qkx",
    ], "stages.ft.adapters[0].targets[0]"),
    edit(
      "trainable pattern matching nothing",
      ["stages", "ft", "trainable"],
      ["haed"],
      "stages.ft.trainable[0]",
    ),
    edit(
      "gate reference unknown",
      ["stages", "ft", "gate", "score", "reference"],
      ["old", "lo"],
      "stages.ft.gate.score.reference[1]",
    ),
    edit(
      "recognition gallery unknown",
      ["stages", "check", "recognition", 0, "gallery"],
      "toString",
      "stages.check.recognition[0].gallery",
    ),
    edit(
      "recognition probes unknown",
      ["stages", "check", "recognition", 0, "probes"],
      ["__proto__"],
      "stages.check.recognition[0].probes[0]",
    ),
    edit(
      "evaluate domains unknown",
      ["stages", "check", "domains"],
      ["hasOwnProperty"],
      "stages.check.domains[0]",
    ),
    edit("loss for the other backbone", ["stages", "pre", "loss"], { kind: "lm" }, "stages.pre.loss.kind"),
    edit(
      "text source for a vit",
      ["domains", "low", "source"],
      { kind: "udhr", language: "eng" },
      "domains.low.source.kind",
    ),
    edit("warmup past the steps", ["stages", "pre", "optimizer", "warmup"], 6, "stages.pre.optimizer.warmup"),
    edit("heads not dividing dim", ["model", "heads"], 3, "model.dim"),
    edit("patch not dividing image", ["model", "patch"], 5, "model.image"),
    edit(
      "downsample not dividing image",
      ["domains", "low", "transforms", 0, "downsample"],
      3,
      "domains.low.transforms[0].downsample",
    ),
    edit(
      "temperature near zero",
      ["stages", "pre", "mix", "temperature"],
      5e-324,
      "stages.pre.mix.temperature",
    ),
    edit(
      "phases out of order",
      ["stages", "pre", "mix", "temperature", "phases", 1, "until"],
      0.4,
      "stages.pre.mix.temperature.phases[1].until",
    ),
    edit("steps 1e300", ["stages", "pre", "steps"], 1e300, "stages.pre.steps"),
    edit("seed past 32 bits", ["seed"], 2 ** 32, "seed"),
    edit("bad stage name", ["stages"], { ...BASE.stages, "9lives": BASE.stages.onnx }, 'stages["9lives"]'),
    edit("bad domain name", ["domains"], { ...BASE.domains, "a b": BASE.domains.old }, 'domains["a b"]'),
    edit("no stages", ["stages"], {}, "stages"),
  ];
}

/** Data the domains read that does not exist. */
export function fileCases(): BadInput[] {
  const source = (label: string, s: Json, names = "domains.low.source") => ({
    label,
    content: {
      spec: setAt(setAt(BASE, ["domains", "low", "source"], s), ["domains", "low", "transforms"], [{
        kind: "split",
        validation: 0.2,
      }]),
    },
    names,
  });
  return [
    source("missing image folder", { kind: "images", path: "no/such/images" }, "domains.low.source.path"),
    source("image folder is a file", { kind: "images", path: "deno.json" }, "domains.low.source.path"),
    source("empty image path", { kind: "images", path: "" }, "domains.low.source.path"),
    source("digit out of range", { kind: "mnist", digits: [10] }, "domains.low.source.digits[0]"),
    source("duplicate digit", { kind: "mnist", digits: [1, 1] }, "domains.low.source.digits[1]"),
    ...lmSource("missing text folder", { kind: "text", path: "no/such/folder" }, "domains.en.source.path"),
    ...lmSource("missing jsonl", { kind: "jsonl", path: "no/such.jsonl" }, "domains.en.source.path"),
    ...lmSource("jsonl is a folder", { kind: "jsonl", path: "tests" }, "domains.en.source.path"),
    ...lmSource("unknown dictionary", { kind: "dictionary", language: "xx" }, "domains.en.source.language"),
    ...lmSource(
      "dictionary constructor",
      { kind: "dictionary", language: "constructor" },
      "domains.en.source.language",
    ),
    ...lmSource("unknown udhr", { kind: "udhr", language: "engl" }, "domains.en.source.language"),
    ...lmSource("udhr __proto__", { kind: "udhr", language: "__proto__" }, "domains.en.source.language"),
    ...lmSource(
      "jsonl domainField without domain",
      { kind: "jsonl", path: "deno.json", domainField: "d" },
      "domains.en.source.domainField",
    ),
  ];
}

function lmSource(label: string, source: Json, names: string): BadInput[] {
  return [{ label, content: { spec: setAt(LM, ["domains", "en", "source"], source) }, names }];
}

/** The file itself: encodings, sizes, YAML syntax, tags, and what a file that is no pipeline looks like. */
export function fileFormatCases(): BadInput[] {
  const yaml = stringify(LM);
  const bytes = (label: string, b: number[] | Uint8Array, ext = "yaml"): BadInput => ({
    label,
    content: b instanceof Uint8Array ? b : new Uint8Array(b),
    ext,
    names: "(file)",
  });
  const text = (label: string, t: string, names: string, ext = "yaml"): BadInput => ({
    label,
    content: t,
    ext,
    names,
  });
  const utf16le = [0xff, 0xfe, ...[...yaml].flatMap((c) => [c.charCodeAt(0), 0])];
  const utf16be = [0xfe, 0xff, ...[...yaml].flatMap((c) => [0, c.charCodeAt(0)])];
  const secret = "s3cr3t ".repeat(500);
  return [
    bytes("UTF-16 LE with BOM", utf16le),
    bytes("UTF-16 BE with BOM", utf16be),
    bytes("UTF-32 LE with BOM", [0xff, 0xfe, 0, 0, ...[...yaml].flatMap((c) => [c.charCodeAt(0), 0, 0, 0])]),
    bytes("UTF-16 without BOM", [...yaml].flatMap((c) => [c.charCodeAt(0), 0])),
    bytes("Latin-1 byte", [...new TextEncoder().encode("name: caf"), 0xe9, 0x0a]),
    bytes("binary", Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
    bytes("too big", new TextEncoder().encode(`name: x\n# ${"x".repeat(70_000)}\n`)),
    bytes(
      "UTF-16 JSON",
      [0xff, 0xfe, ...[...JSON.stringify(LM)].flatMap((c) => [c.charCodeAt(0), 0])],
      "json",
    ),
    text("empty file", "", "(pipeline)"),
    text("only a comment", "# nothing\n", "(pipeline)"),
    text("a list", "- 1\n- 2\n", "(pipeline)"),
    text("a long string", secret, "(pipeline)"),
    text("long key", `${secret.replaceAll(" ", "_")}: 1\n${yaml}`, "(pipeline)"),
    text("long value", yaml.replace("name: lm", `name: "${secret}"`), "name"),
    text("unclosed flow", "name: a\nseed: [1, 2\n", "(pipeline)"),
    text("bad indentation", "name: a\n  seed: 1\n bad: 2\n", "(pipeline)"),
    text("tab indentation", "name: a\nmodel:\n\tdim: 3\n", "(pipeline)"),
    text("duplicate key", "name: a\nname: b\n", "(pipeline)"),
    text("binary tag", "name: a\nseed: !!binary aGVsbG8=\n", "(pipeline)"),
    text("custom tag", "name: !js/function a\n", "(pipeline)"),
    text(
      "alias bomb",
      "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
        "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
      "(pipeline)",
    ),
    text("__proto__ key", `__proto__: { polluted: 1 }\n${yaml}`, "__proto__"),
    text("constructor key", `constructor: 1\n${yaml}`, "constructor"),
    text("broken JSON", '{"name": "x",', "(file)", "json"),
    text("JSON array", "[1, 2]", "(pipeline)", "json"),
    text("wrong extension", yaml, "(file)", "txt"),
    text("file name only", yaml, "(file)", "yml.bak"),
  ];
}

/** TypeScript pipeline modules that fail to load or to build. */
export function moduleCases(): BadInput[] {
  const ts = (label: string, source: string): BadInput => ({
    label,
    content: source,
    ext: "ts",
    names: "(file)",
  });
  return [
    ts("throws a string", 'throw "boom";\n'),
    ts("throws a number", "throw 42;\n"),
    ts("throws undefined", "throw undefined;\n"),
    ts("throws an object", "throw { code: 7 };\n"),
    ts("throws a cyclic object", "const o: Record<string, unknown> = {}; o.self = o; throw o;\n"),
    ts(
      "throws a Proxy",
      "const trap = () => { throw new Error('trap'); };\nthrow new Proxy({}, { get: trap, ownKeys: trap, getPrototypeOf: trap });\n",
    ),
    ts(
      "exports a Proxy",
      "const trap = () => { throw new Error('trap'); };\nexport default new Proxy({}, { get: trap, ownKeys: trap, getPrototypeOf: trap, has: trap });\n",
    ),
    ts("syntax error", "const x y = 1;\nexport default x;\n"),
    ts("missing import", 'import x from "./nope.ts";\nexport default x;\n'),
    ts("no default export", "export const x = 1;\n"),
    ts("build throws", 'export default { build() { throw new RangeError("bad size"); } };\n'),
    { ...ts("build returns junk", "export default { build() { return 7; } };\n"), names: "(pipeline)" },
    ts(
      "error with a long multi-line message",
      `throw new Error(${JSON.stringify("first line\n" + "s3cr3t\n".repeat(200))});\n`,
    ),
  ];
}

/** Flags, each against a valid pipeline. */
export function flagCases(): BadInput[] {
  const flag = (label: string, args: string[], names: string): BadInput => ({
    label,
    content: { spec: LM },
    args: ["--plan", ...args],
    names,
  });
  return [
    flag("--steps 0", ["--steps", "0"], "--steps"),
    flag("--steps -1", ["--steps=-1"], "--steps"),
    flag("--steps 2.5", ["--steps", "2.5"], "--steps"),
    flag("--steps x", ["--steps", "x"], "--steps"),
    flag("--steps empty", ["--steps="], "--steps"),
    flag("--steps 1e300", ["--steps", "1e300"], "--steps"),
    flag("--steps 2^53 + 1", ["--steps", "9007199254740993"], "--steps"),
    flag("--steps Infinity", ["--steps", "Infinity"], "--steps"),
    flag("--steps hex", ["--steps", "0x10"], "--steps"),
    flag("--seed empty", ["--seed="], "--seed"),
    flag("--seed -1", ["--seed=-1"], "--seed"),
    flag("--seed 2^32", ["--seed", "4294967296"], "--seed"),
    flag("--seed 1e39", ["--seed", "1e39"], "--seed"),
    flag("--seed NaN", ["--seed", "NaN"], "--seed"),
    flag("--stage constructor", ["--stage", "constructor"], "--stage"),
    flag("--stage __proto__", ["--stage", "__proto__"], "--stage"),
    flag("--stage toString", ["--stage", "toString"], "--stage"),
    flag("--stage hasOwnProperty", ["--stage", "hasOwnProperty"], "--stage"),
    flag("--stage empty", ["--stage="], "--stage"),
    flag("--stage typo", ["--stage", "trian"], "--stage"),
  ];
}

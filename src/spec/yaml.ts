/** YAML pipelines: plain data (no custom tags) read into the same spec the builder makes, with positions. */

import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "npm:yaml@2.9.1";
import { messages } from "./messages.ts";
import { joinPath, PipelineError, type Problem, type SourceLocation } from "./problem.ts";
import type { PipelineSpec } from "./types.ts";
import { validatePipeline } from "./validate.ts";

/** A parsed YAML document and the position of every spec path it writes. */
export interface YamlDocument {
  value: unknown;
  /** Spec path (`stages.ft.adapters[0].targets`) to the position of its key (or item). */
  locations: Map<string, SourceLocation>;
}

/** The tags of the YAML 1.2 core schema, the only ones a pipeline may use. */
const CORE_TAGS = new Set(
  ["str", "int", "float", "bool", "null", "map", "seq"].map((t) => `tag:yaml.org,2002:${t}`),
);

/**
 * Parses YAML text as data. Throws a `PipelineError` for syntax errors, duplicate keys and any tag outside
 * the core schema (`!!binary`, `!custom`), each with its line and column.
 */
export function parseYaml(text: string, file?: string): YamlDocument {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    schema: "core",
    customTags: [],
    prettyErrors: false,
  });
  const position = (offset: number): SourceLocation => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const problems: Problem[] = [];
  for (const error of doc.errors) {
    problems.push({ path: "", message: messages.yamlSyntax(error.message), ...position(error.pos[0]) });
  }
  visit(doc, {
    Node(_, node) {
      if (node.tag !== undefined && !CORE_TAGS.has(node.tag) && node.range) {
        problems.push({
          path: "",
          message: messages.yamlTag(node.tag),
          ...position(tagStart(text, node.range[0])),
        });
      }
    },
  });
  if (problems.length > 0) throw new PipelineError(problems, file);

  const locations = new Map<string, SourceLocation>();
  const root = doc.contents;
  locations.set("", root?.range ? position(root.range[0]) : { line: 1, column: 1 });
  if (root) collect(root, "", locations, position);
  return { value: doc.toJS({ maxAliasCount: 100 }), locations };
}

/** The offset of the tag written before the node at `offset` (the node's range starts after its tag). */
function tagStart(text: string, offset: number): number {
  let i = text.lastIndexOf("!", offset - 1);
  if (i < 0) return offset;
  while (i > 0 && !/[\s,[{]/.test(text[i - 1])) i--;
  return i;
}

/** Records the position of every key and sequence item under `node`; aliases keep their own position. */
function collect(
  node: Node,
  base: string,
  out: Map<string, SourceLocation>,
  position: (offset: number) => SourceLocation,
): void {
  if (isAlias(node)) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const path = joinPath(base, key);
      const keyRange = (pair.key as Node | null)?.range;
      if (keyRange) out.set(path, position(keyRange[0]));
      if (pair.value) collect(pair.value as Node, path, out, position);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const path = joinPath(base, i);
      const range = (item as Node).range;
      if (range) out.set(path, position(range[0]));
      collect(item as Node, path, out, position);
    });
  }
}

/**
 * Reads a YAML pipeline into a validated spec with every default filled. Problems carry the line and
 * column of the offending key; `file` is printed in front of them.
 *
 * @example
 * ```ts
 * import { loadPipelineYaml } from "./yaml.ts";
 * const spec = loadPipelineYaml(`
 * name: tiny
 * seed: 0
 * model: { backbone: lm, context: 32, dim: 32, depth: 1, heads: 2, mlpRatio: 4 }
 * domains:
 *   en: { source: { kind: udhr, language: eng } }
 * stages:
 *   train:
 *     kind: train
 *     mix: { domains: [en], strategy: temperature, temperature: 1 }
 *     loss: { kind: lm }
 *     optimizer: { kind: adamw, lr: 1.0e-3 }
 *     steps: 100
 *     batch: 8
 * `, "tiny.yaml");
 * console.log(spec.stages.train.kind); // "train"
 * ```
 */
export function loadPipelineYaml(text: string, file?: string): PipelineSpec {
  const { value, locations } = parseYaml(text, file);
  return validatePipeline(value, { locations, file });
}

/**
 * Module-path patterns: dotted globs and `/regex/` literals that select linear layers or parameters.
 *
 * Glob syntax (paths are split at `.`):
 * - `*` as a whole segment matches exactly one segment; inside a segment (`fc*`) it matches any characters
 *   except `.`;
 * - `**` (a whole segment) matches zero or more segments: `blocks.**.qkv` matches `blocks.qkv` and
 *   `blocks.0.attn.qkv`;
 * - `{8..11}` matches the integers 8 to 11 written without leading zeros;
 * - `{qkv,proj}` matches any of the literal alternatives (which may contain dots: `{attn.qkv,mlp.fc1}`).
 *
 * A pattern written as `/.../` is a JavaScript regular expression that must match the whole path (like
 * PEFT's string `target_modules`, which uses `re.fullmatch`).
 */

/** A pattern that could not be parsed. */
export class PatternError extends Error {
  override name = "PatternError";
}

/** A compiled pattern. */
export interface PathMatcher {
  /** The pattern as written. */
  source: string;
  /** True when the whole path matches. */
  test(path: string): boolean;
}

const MAX_RANGE = 10_000;

/** Compiles a glob or `/regex/` pattern; throws PatternError with the reason when it is malformed. */
export function compilePattern(pattern: string): PathMatcher {
  const regex = pattern.length >= 2 && pattern.startsWith("/") && pattern.endsWith("/")
    ? compileRegex(pattern)
    : new RegExp(`^(?:${globToRegexSource(pattern)})$`);
  return { source: pattern, test: (path: string): boolean => regex.test(path) };
}

function compileRegex(pattern: string): RegExp {
  const body = pattern.slice(1, -1);
  if (body === "") throw new PatternError(`pattern "${pattern}" is an empty regular expression`);
  try {
    return new RegExp(`^(?:${body})$`);
  } catch (e) {
    throw new PatternError(`pattern "${pattern}" is not a valid regular expression: ${(e as Error).message}`);
  }
}

/** Translates a dotted glob into regular-expression source (without anchors). */
export function globToRegexSource(pattern: string): string {
  if (pattern === "") throw new PatternError(`pattern "" is empty`);
  const segments = splitSegments(pattern);
  let out = "";
  let needSeparator = false;
  segments.forEach((segment, i) => {
    if (segment === "**") {
      const last = i === segments.length - 1;
      if (!needSeparator) {
        // leading `**`: zero or more whole segments, each followed by a dot
        out += last ? "[^.]+(?:\\.[^.]+)*" : "(?:[^.]+\\.)*";
      } else {
        out += "(?:\\.[^.]+)*";
      }
      return;
    }
    if (segment.includes("**")) {
      throw new PatternError(`pattern "${pattern}": "**" must be a whole segment, found "${segment}"`);
    }
    out += (needSeparator ? "\\." : "") + segmentSource(pattern, segment);
    needSeparator = true;
  });
  return out;
}

/** Splits at dots outside braces, so `{attn.qkv,mlp.fc1}` and `{8..11}` stay whole. */
function splitSegments(pattern: string): string[] {
  const segments: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of pattern) {
    if (ch === "{") {
      if (depth > 0) throw new PatternError(`pattern "${pattern}": braces cannot be nested`);
      depth++;
    } else if (ch === "}") {
      if (depth === 0) throw new PatternError(`pattern "${pattern}": "}" without a matching "{"`);
      depth--;
    }
    if (ch === "." && depth === 0) {
      segments.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  if (depth > 0) throw new PatternError(`pattern "${pattern}": "{" is never closed`);
  segments.push(current);
  if (segments.some((s) => s === "")) {
    throw new PatternError(`pattern "${pattern}" has an empty segment (a leading, trailing or doubled ".")`);
  }
  return segments;
}

function segmentSource(pattern: string, segment: string): string {
  if (segment === "*") return "[^.]+";
  let out = "";
  let i = 0;
  while (i < segment.length) {
    const ch = segment[i];
    if (ch === "*") {
      out += "[^.]*";
      i++;
    } else if (ch === "{") {
      const close = segment.indexOf("}", i);
      out += braceSource(pattern, segment.slice(i + 1, close));
      i = close + 1;
    } else {
      out += escapeRegex(ch);
      i++;
    }
  }
  return out;
}

function braceSource(pattern: string, body: string): string {
  const range = /^(\d+)\.\.(\d+)$/.exec(body);
  if (range) {
    const lo = Number(range[1]);
    const hi = Number(range[2]);
    if (lo > hi) {
      throw new PatternError(`pattern "${pattern}": range {${body}} is empty (start ${lo} > end ${hi})`);
    }
    if (hi - lo >= MAX_RANGE) {
      throw new PatternError(`pattern "${pattern}": range {${body}} spans more than ${MAX_RANGE} numbers`);
    }
    const numbers: string[] = [];
    for (let n = lo; n <= hi; n++) numbers.push(String(n));
    return `(?:${numbers.join("|")})`;
  }
  const options = body.split(",");
  if (options.length < 2 || options.some((o) => o === "")) {
    throw new PatternError(
      `pattern "${pattern}": {${body}} is neither a range {a..b} nor a list of alternatives {x,y}`,
    );
  }
  return `(?:${options.map(escapeRegex).join("|")})`;
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

/** Levenshtein distance (insertions, deletions and substitutions each cost 1). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(substitute, previous[j] + 1, row[j - 1] + 1));
    }
    previous = row;
  }
  return previous[b.length];
}

/** The `count` candidates nearest to `text` (by edit distance unless given); ties keep the candidates' order. */
export function closestNames(
  text: string,
  candidates: readonly string[],
  count = 3,
  distance: (text: string, candidate: string) => number = editDistance,
): string[] {
  return candidates
    .map((name, order) => ({ name, order, distance: distance(text, name) }))
    .sort((x, y) => x.distance - y.distance || x.order - y.order)
    .slice(0, count)
    .map((c) => c.name);
}

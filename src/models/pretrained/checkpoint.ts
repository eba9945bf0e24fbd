/**
 * Reads a Hugging Face checkpoint folder: `config.json` and either `model.safetensors` or the shards named by
 * `model.safetensors.index.json`. The files' headers are read and checked first; a weight's bytes are read
 * only when it is asked for, one tensor at a time (stream.ts), float32 in mixtune's layout, under its
 * Hugging Face name. Every problem names the file it is in.
 */
import { files, type SyncFile } from "../../host/files.ts";
import { readSafetensorsHeader, SafetensorsError, type StoredDtype } from "../../adapters/safetensors.ts";
import { parseArch, type PretrainedArch } from "./arch.ts";
import { PretrainedError } from "./errors.ts";
import { parsePreprocessor } from "./preprocessor.ts";
import { checkpointTensors, ignoredTensor } from "./tensors.ts";
import { readTensor } from "./stream.ts";

/** A checkpoint folder, read and checked. */
export interface Pretrained {
  dir: string;
  arch: PretrainedArch;
  /** config.json as written. */
  config: Record<string, unknown>;
  /** float32 weights in mixtune's layout ([out, in] linears), by parameter name. */
  weights: Map<string, Float32Array>;
  /** Stored element type of each weight. */
  dtypes: Map<string, StoredDtype>;
}

/** Where one weight of a checkpoint lies: its file, stored name and type, and its bytes' position. */
export interface TensorPlace {
  file: string;
  /** Its name in the file (GPT-2's may lack `transformer.`). */
  stored: string;
  dtype: StoredDtype;
  /** Shape as stored ([in, out] for GPT-2's Conv1D weights). */
  shape: number[];
  /** Byte offset of its data in the file, and its length. */
  start: number;
  bytes: number;
  /** A GPT-2 Conv1D weight: stored [in, out], used [out, in]. */
  conv1d: boolean;
}

/** A checkpoint folder's headers, checked: everything but the weights' values. */
export interface CheckedPretrained extends Omit<Pretrained, "weights"> {
  /** Where each weight is, by parameter name. */
  places: Map<string, TensorPlace>;
}

const SINGLE = "model.safetensors";
const INDEX = "model.safetensors.index.json";
/** A ViT's image processor settings (resize, rescale, normalisation); optional. */
const PREPROCESSOR = "preprocessor_config.json";

/**
 * Reads `config.json` alone: the architecture, without loading weights (for validation and plans). Reads
 * are synchronous so that specs validate and graphs build synchronously, as they do for built-in models.
 */
export function readPretrainedConfig(dir: string): { arch: PretrainedArch; config: Record<string, unknown> } {
  const file = join(dir, "config.json");
  const config = readJson(file, dir);
  const arch = parseArch(config, file);
  const pre = join(dir, PREPROCESSOR);
  if (arch.family === "vit" && exists(pre)) {
    arch.preprocess = parsePreprocessor(readJson(pre, dir), pre, arch.image, arch.channels);
  }
  return { arch, config: config as Record<string, unknown> };
}

/**
 * Reads and checks a whole checkpoint folder into float32 arrays, a tensor at a time (never a whole file);
 * throws PretrainedError naming the file and the problem. Training does not use it: it streams the
 * weights to the GPU (stream.ts); merges, generation and tests do.
 */
export function readPretrained(dir: string): Pretrained {
  const { places, ...rest } = checkPretrained(dir);
  const weights = new Map<string, Float32Array>();
  for (const [name, place] of places) weights.set(name, readTensor(place));
  return { ...rest, weights };
}

/**
 * Checks a checkpoint folder (names, shapes, dtypes, file lengths) from the files' headers alone, without
 * reading weights, and says where each weight is.
 */
export function checkPretrained(dir: string): CheckedPretrained {
  const { arch, config } = readPretrainedConfig(dir);
  const shards = shardFiles(dir);
  const expected = new Map(checkpointTensors(arch).map((t) => [t.name, t]));
  const places = new Map<string, TensorPlace>();
  const dtypes = new Map<string, StoredDtype>();
  const where = new Map<string, string>();
  for (const [file, listed] of shards) {
    const shard = readShardHeader(file);
    const stored = new Set(Object.keys(shard.shapes));
    for (const [name, table] of prefixed(arch, [...stored])) {
      if (listed && !listed.has(name)) {
        throw new PretrainedError(
          file,
          `holds tensor "${name}" that ${INDEX} places in another file or not at all`,
        );
      }
      if (ignoredTensor(arch, table)) continue;
      const want = expected.get(table);
      if (!want) {
        throw new PretrainedError(
          file,
          `unexpected tensor "${name}" (not a ${arch.family} weight in this config)`,
        );
      }
      if (where.has(table)) {
        throw new PretrainedError(file, `tensor "${name}" is also in ${where.get(table)}`);
      }
      const shape = shard.shapes[name];
      if (shape.join() !== want.shape.join()) {
        throw new PretrainedError(
          file,
          `tensor "${name}" has shape [${shape.join(", ")}], expected [${
            want.shape.join(", ")
          }] from config.json`,
        );
      }
      const at = shard.places[name];
      places.set(table, {
        file,
        stored: name,
        dtype: at.dtype,
        shape,
        start: at.start,
        bytes: at.bytes,
        conv1d: want.conv1d,
      });
      dtypes.set(table, shard.dtypes[name]);
      where.set(table, file);
    }
    for (const name of listed ?? []) {
      if (!stored.has(name)) {
        throw new PretrainedError(file, `lacks tensor "${name}" that ${INDEX} places there`);
      }
    }
  }
  for (const name of expected.keys()) {
    if (!where.has(name)) {
      const file = shards.length === 1 && shards[0][1] === undefined ? shards[0][0] : join(dir, INDEX);
      throw new PretrainedError(file, `missing tensor "${name}"`);
    }
  }
  return { dir, arch, config, dtypes, places };
}

/** A shard's tensor shapes, dtypes and byte positions by stored name. */
interface Shard {
  shapes: Record<string, number[]>;
  dtypes: Record<string, StoredDtype>;
  places: Record<string, { dtype: StoredDtype; start: number; bytes: number }>;
}

/**
 * What a stage's cache key records of a checkpoint folder: config.json, and each weight file's name, length
 * and modification time (as make does: rewriting a file changes it, reading the weights is not needed).
 */
export function checkpointFingerprint(dir: string): string {
  const parts = [files().readTextFileSync(join(dir, "config.json"))];
  for (const [file] of shardFiles(dir)) {
    const info = files().statSync(file);
    parts.push(`${file.slice(file.lastIndexOf("/") + 1)} ${info.size} ${info.mtime?.getTime() ?? "?"}`);
  }
  if (exists(join(dir, INDEX))) parts.push(files().readTextFileSync(join(dir, INDEX)));
  if (exists(join(dir, PREPROCESSOR))) parts.push(files().readTextFileSync(join(dir, PREPROCESSOR)));
  return parts.join("\n");
}

/** The weight files, each with the tensor names the index assigns it (undefined for a single file). */
function shardFiles(dir: string): [string, Set<string> | undefined][] {
  const single = join(dir, SINGLE);
  const index = join(dir, INDEX);
  if (exists(single)) return [[single, undefined]];
  if (!exists(index)) {
    throw new PretrainedError(dir, `holds neither ${SINGLE} nor ${INDEX}`);
  }
  const raw = readJson(index, dir);
  const map = (raw as { weight_map?: unknown }).weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new PretrainedError(index, "weight_map must be an object from tensor names to file names");
  }
  const byFile = new Map<string, Set<string>>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== "string" || !/^[\w.-]+\.safetensors$/.test(file)) {
      throw new PretrainedError(
        index,
        `weight_map["${name}"] must name a .safetensors file in the folder, found ${JSON.stringify(file)}`,
      );
    }
    if (!byFile.has(file)) byFile.set(file, new Set());
    byFile.get(file)!.add(name);
  }
  if (byFile.size === 0) throw new PretrainedError(index, "weight_map is empty");
  return [...byFile].sort(([a], [b]) => a < b ? -1 : 1).map(([f, names]) => [join(dir, f), names]);
}

function readShardHeader(file: string): Shard {
  let f: SyncFile;
  try {
    f = files().openSync(file);
  } catch (e) {
    throw new PretrainedError(
      file,
      files().notFound(e) ? "file not found" : `cannot read: ${(e as Error).message}`,
    );
  }
  try {
    const size = f.size();
    const read = (n: number) => {
      const buf = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const k = f.readAt(buf.subarray(got), got);
        if (k === 0) break;
        got += k;
      }
      return buf.subarray(0, got);
    };
    const first = read(Math.min(size, 8));
    const header = safetensors(file, () => {
      if (size < 8) return readSafetensorsHeader(first, size);
      const length = Number(new DataView(first.buffer).getBigUint64(0, true));
      return readSafetensorsHeader(length <= size - 8 ? read(8 + length) : first, size);
    });
    // tensor data starts after the 8-byte length and the header
    const data = size < 8 ? 8 : 8 + header.headerLength;
    return {
      shapes: Object.fromEntries(header.entries.map((e) => [e.name, e.shape])),
      dtypes: Object.fromEntries(header.entries.map((e) => [e.name, e.dtype])),
      places: Object.fromEntries(
        header.entries.map((
          e,
        ) => [e.name, { dtype: e.dtype, start: data + e.begin, bytes: e.end - e.begin }]),
      ),
    };
  } finally {
    f.close();
  }
}

/** Runs a safetensors parse, naming the file in its errors. */
function safetensors<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof SafetensorsError) throw new PretrainedError(file, e.message);
    throw e;
  }
}

/**
 * Stored names paired with table names: GPT-2 checkpoints saved from the bare model lack `transformer.`;
 * a ViT saved from ViTModel lacks the `vit.` that ViTForImageClassification's paths carry, and one saved
 * from ViTForImageClassification has it where ViTModel's paths do not (transformers maps both ways).
 */
function prefixed(arch: PretrainedArch, names: string[]): [string, string][] {
  if (arch.family === "vit") {
    const stored = names.some((n) => n.startsWith("vit.")) ? "vit." : "";
    if (stored === arch.prefix) return names.map((n) => [n, n]);
    return names.map((n) => [
      n,
      stored === "" ? (n.startsWith("classifier.") ? n : `vit.${n}`) : n.replace(/^vit\./, ""),
    ]);
  }
  const bare = arch.family === "gpt2" && names.length > 0 && !names.some((n) => n.startsWith("transformer."));
  return names.map((n) => [n, bare && n !== "lm_head.weight" ? `transformer.${n}` : n]);
}

function readJson(file: string, dir: string): unknown {
  let text: string;
  try {
    text = files().readTextFileSync(file);
  } catch (e) {
    if (files().notFound(e)) {
      if (!exists(dir)) throw new PretrainedError(dir, "checkpoint folder not found");
      throw new PretrainedError(file, "file not found");
    }
    throw new PretrainedError(file, `cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PretrainedError(file, `is not valid JSON (${(e as Error).message})`);
  }
}

function exists(path: string): boolean {
  try {
    files().statSync(path);
    return true;
  } catch (e) {
    if (files().notFound(e)) return false;
    throw e;
  }
}

function join(dir: string, file: string): string {
  return dir.endsWith("/") ? dir + file : `${dir}/${file}`;
}

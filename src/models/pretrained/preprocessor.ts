/**
 * A ViT checkpoint's `preprocessor_config.json` (transformers' ViTImageProcessor, or the older
 * ViTFeatureExtractor), read into what the graph applies to the domain's pixels: a bilinear resize to
 * image_size, then per-channel `(255 p * rescale - mean) / std` (the processor's defaults where a key is
 * absent). Domain pixels are the stored 8-bit values / 255, so `255 p` is the value the processor reads.
 */
import { PretrainedError } from "./errors.ts";

/** What the processor does to an image before the patch embedding. */
export interface VitPreprocess {
  /** do_resize: images of another side are resized (bilinear) to `size`. */
  resize: boolean;
  /** size (height = width), which must be the model's image_size. */
  size: number;
  /** rescale_factor when do_rescale, else 1: multiplies the 8-bit pixel values. */
  rescale: number;
  /** image_mean and image_std per channel (0 and 1 when do_normalize is false). */
  mean: number[];
  std: number[];
}

/** transformers' IMAGENET_STANDARD_MEAN and _STD, ViTImageProcessor's defaults. */
const STANDARD = 0.5;
/** PIL.Image.BILINEAR, the only resampling filter implemented. */
const BILINEAR = 2;

/** Parses the file's object for a model of `image` pixels and `channels` channels. */
export function parsePreprocessor(
  raw: unknown,
  file: string,
  image: number,
  channels: number,
): VitPreprocess {
  const fail = (problem: string): never => {
    throw new PretrainedError(file, problem);
  };
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) fail("must hold a JSON object");
  const c = raw as Record<string, unknown>;
  const bool = (key: string): boolean => {
    const v = c[key] ?? true;
    if (typeof v !== "boolean") fail(`${key} must be true or false, found ${JSON.stringify(c[key])}`);
    return v as boolean;
  };
  const resize = bool("do_resize"), rescale = bool("do_rescale"), normalize = bool("do_normalize");
  const size = sideOf(c.size ?? { height: 224, width: 224 }, fail);
  if (resize && size !== image) fail(`size ${size} differs from config.json's image_size ${image}`);
  if (resize && (c.resample ?? BILINEAR) !== BILINEAR) {
    fail(`resample ${JSON.stringify(c.resample)} is not supported (only 2, bilinear)`);
  }
  const factor = c.rescale_factor ?? 1 / 255;
  if (typeof factor !== "number" || !(factor > 0) || !Number.isFinite(factor)) {
    fail(`rescale_factor must be a positive number, found ${JSON.stringify(c.rescale_factor)}`);
  }
  const perChannel = (key: string, positive: boolean): number[] => {
    const v = c[key] ?? STANDARD;
    const list = typeof v === "number" ? Array(channels).fill(v) : v;
    const ok = Array.isArray(list) && list.length === channels &&
      list.every((x) => typeof x === "number" && Number.isFinite(x) && (!positive || x > 0));
    if (!ok) {
      fail(
        `${key} must be ${
          positive ? "a positive" : "a"
        } number or a list of ${channels} (num_channels), found ${JSON.stringify(c[key])}`,
      );
    }
    return list as number[];
  };
  const mean = perChannel("image_mean", false), std = perChannel("image_std", true);
  return {
    resize,
    size,
    rescale: rescale ? factor as number : 1,
    mean: normalize ? mean : Array(channels).fill(0),
    std: normalize ? std : Array(channels).fill(1),
  };
}

/** `size` as transformers writes it: a number, or {height, width} equal, or {shortest_edge}. */
function sideOf(v: unknown, fail: (problem: string) => never): number {
  const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) > 0;
  if (int(v)) return v as number;
  if (typeof v === "object" && v !== null) {
    const s = v as Record<string, unknown>;
    if (int(s.height) && s.height === s.width) return s.height as number;
    if (int(s.shortest_edge) && s.height === undefined) return s.shortest_edge as number;
  }
  return fail(`size must be a positive integer or {"height": N, "width": N}, found ${JSON.stringify(v)}`);
}

/**
 * mixtune's data layer: sources (dictionaries, udhr, mnist, folders, text, JSONL, Parquet), transforms, mixing strategies,
 * temperature schedules and a checkpointable sampler. Everything runs on the CPU and is seeded.
 *
 * @module
 */

export * from "./errors.ts";
export * from "./domain.ts";
export * from "./batch.ts";
export * from "./quality.ts";
export * from "./sampler.ts";
export * from "./mix/temperature.ts";
export * from "./mix/unimax.ts";
export * from "./mix/schedule.ts";
export * from "./mix/strategy.ts";
export * from "./transforms/text.ts";
export * from "./transforms/images.ts";
export * from "./transforms/resize.ts";
export * from "./transforms/degrade.ts";
export * from "./sources/dictionary.ts";
export * from "./sources/udhr.ts";
export * from "./sources/mnist.ts";
export * from "./sources/text_folder.ts";
export * from "./sources/jsonl.ts";
export * from "./sources/parquet.ts";
export * from "./sources/records.ts";
export * from "./sources/image_folder.ts";
export { decodeImage, type GrayImage, IMAGE_EXTENSIONS } from "./sources/_image_decode.ts";
export * from "./tokenizer.ts";
export * from "./packing.ts";
export * from "./chat_template.ts";
export * from "./corpus.ts";
export * from "./examples.ts";
export * from "./sources/load_corpus.ts";
export * from "./sources/token_cache.ts";

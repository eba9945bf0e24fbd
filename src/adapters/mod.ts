/**
 * LoRA adapters: placement by module-path pattern, initialisation, quality gates of dual LoRA, merging
 * into base weights, and PEFT / safetensors files.
 *
 * @module
 */

export * from "./patterns.ts";
export * from "./placement.ts";
export * from "./init.ts";
export * from "./gate.ts";
export * from "./quality_scale.ts";
export * from "./merge.ts";
export * from "./safetensors.ts";
export * from "./peft.ts";
export * from "./adapter_folder.ts";

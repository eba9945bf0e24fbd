/**
 * The `deno.json` tasks a project adds to run mixtune, with the permissions each command needs: read (the
 * pipeline, and the npm packages with built-in data in Deno's cache), write under `runs/` only, env and sys
 * (the WebGPU adapter), ffi (onnxruntime for export stages). `@mixtune/mixtune` resolves through the
 * project's imports.
 */

/** `deno task pipeline [FILE] [options]`. */
export const PIPELINE_TASK: string =
  "deno run --allow-read --allow-write=runs --allow-env --allow-ffi --allow-sys @mixtune/mixtune/cli";

/** `deno task report RUN_DIR [RUN_DIR...]`. */
export const REPORT_TASK: string =
  "deno run --allow-read --allow-write=runs --allow-env @mixtune/mixtune/report";

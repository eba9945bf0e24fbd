/** The files and folders that domains read: checked at validation, so a typo is a spec error with its line. */

import { type FileInfo, files } from "../host/files.ts";
import type { Checker } from "./_checker.ts";
import { messages } from "./messages.ts";
import { joinPath } from "./problem.ts";

const WANTS: Record<string, "file" | "folder" | "file or folder"> = {
  text: "file or folder",
  images: "folder",
  jsonl: "file",
  parquet: "file or folder",
};

/** Reports every `source.path` (of a well-formed domain) that does not exist or is the wrong kind. */
export function checkDataFiles(check: Checker, domains: unknown): void {
  if (typeof domains !== "object" || domains === null || Array.isArray(domains)) return;
  for (const [name, domain] of Object.entries(domains)) {
    const source = (domain as { source?: { kind?: unknown; path?: unknown } } | null)?.source;
    const kind = typeof source?.kind === "string" ? source.kind : "";
    const path = source?.path;
    if (!Object.hasOwn(WANTS, kind) || typeof path !== "string" || path === "") continue;
    const problem = pathProblem(path, WANTS[kind]);
    if (problem) check.add(joinPath(joinPath(joinPath("domains", name), "source"), "path"), problem);
  }
}

function pathProblem(path: string, wants: "file" | "folder" | "file or folder"): string | undefined {
  let info: FileInfo;
  try {
    info = files().statSync(path);
  } catch (e) {
    const reason = files().notFound(e)
      ? `not found from ${files().cwd()}`
      : files().denied(e)
      ? "no permission to read it"
      : (e as Error).name;
    return messages.missingPath(wants, path, reason);
  }
  if (wants === "file or folder") return undefined;
  const ok = wants === "file" ? info.isFile : info.isDirectory;
  return ok ? undefined : messages.missingPath(wants, path, wants === "file" ? "a folder" : "a file");
}

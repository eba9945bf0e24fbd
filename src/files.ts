/**
 * File access shared by run folders, reports and sweeps: atomic writes (temp file + rename), JSON, JSON Lines
 * appends.
 */

/** Writes a file so a reader never sees it half-written. */
export async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  if (typeof data === "string") await Deno.writeTextFile(tmp, data);
  else await Deno.writeFile(tmp, data);
  await Deno.rename(tmp, path);
}

/** Writes JSON, pretty-printed, atomically. */
export function writeJson(path: string, value: unknown): Promise<void> {
  return writeAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Reads JSON, or undefined when the file does not exist; a file that is not JSON is an error naming it. */
export async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  return parseJson<T>(text, path);
}

/** Parses the JSON text of `file`; a damaged or truncated file is an error that names it. */
export function parseJson<T>(text: string, file: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}): the file is damaged or incomplete`);
  }
}

/** Removes what a killed run left half-written under `root` (`*.tmp-<pid>` files, `checkpoint.tmp`). */
export async function removeTemporary(root: string, depth = 3): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(root));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  for (const e of entries) {
    const path = `${root}/${e.name}`;
    if (/\.tmp-\d+$/.test(e.name) || e.name === "checkpoint.tmp") {
      await Deno.remove(path, { recursive: true });
    } else if (e.isDirectory && depth > 1) await removeTemporary(path, depth - 1);
  }
}

/** Appends one JSON value as a line. */
export async function appendJsonl(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value) + "\n", { append: true });
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

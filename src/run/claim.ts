/**
 * One process at a time per stage folder: a `<dir>.lock` file created atomically (create-new) holding the
 * owner's pid and host. A lock left by a dead process on this host is stale and taken over.
 */
import { hostname } from "node:os";

/** Another live process holds the stage. */
export class StageBusy extends Error {
  override name = "StageBusy";
}

interface Owner {
  pid: number;
  host: string;
}

/** Claims `dir` for this process; returns the function that releases it. Throws `StageBusy`. */
export async function claimStage(dir: string): Promise<() => Promise<void>> {
  const lock = `${dir}.lock`;
  const me: Owner = { pid: Deno.pid, host: hostname() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await Deno.writeTextFile(lock, JSON.stringify(me) + "\n", { createNew: true });
      return () => Deno.remove(lock).catch(() => {});
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
    const owner = await readOwner(lock);
    if (owner && (owner.host !== me.host || alive(owner.pid))) {
      throw new StageBusy(
        `${dir} is being run by pid ${owner.pid} on ${owner.host} (lock ${lock}); ` +
          `wait for it, or remove the lock if that process is gone`,
      );
    }
    // stale (its process is gone) or unreadable (a writer died mid-write): take it over
    await Deno.remove(lock).catch(() => {});
  }
  throw new StageBusy(`${dir}: another process claimed it at the same moment (lock ${lock})`);
}

async function readOwner(lock: string): Promise<Owner | undefined> {
  try {
    const o = JSON.parse(await Deno.readTextFile(lock));
    return Number.isInteger(o?.pid) && typeof o?.host === "string" ? o : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid runs on this host (Linux /proc; elsewhere assumed alive). */
function alive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return Deno.build.os !== "linux";
    return true;
  }
}

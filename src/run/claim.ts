/**
 * One process at a time per stage folder: an exclusive OS lock (flock) on `<dir>/lock`, which also holds
 * the owner's pid and host for the message. The kernel drops the lock when its process dies, however it
 * dies, so a killed stage is claimed again at once; the file itself stays (locks on a file that was
 * removed and recreated could be held twice). On a shared filesystem this relies on its lock support.
 */
import { hostname } from "node:os";

/** Another live process holds the stage. */
export class StageBusy extends Error {
  override name = "StageBusy";
}

/** Claims `dir` (created if needed) for this process; returns the function that releases it. */
export async function claimStage(dir: string): Promise<() => Promise<void>> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    file.close();
    const owner = await Deno.readTextFile(path).then((t) => JSON.parse(t), () => undefined);
    const who = Number.isInteger(owner?.pid) ? `pid ${owner.pid} on ${owner.host}` : "another process";
    throw new StageBusy(`${dir} is being run by ${who} (lock ${path}); wait for it to finish`);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, host: hostname() }) + "\n"));
  return async () => {
    await file.unlock();
    file.close();
  };
}

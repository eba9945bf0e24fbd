import assert from "@std/assert";
import { hostname } from "node:os";
import { claimStage } from "../src/run/claim.ts";
import { removeOut, tempOut } from "./fixtures/helpers.ts";

/** A pid that no process has: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true").spawn();
  await child.status;
  return child.pid;
}

Deno.test("claimStage() holds a stage folder for one process and releases it", async () => {
  const out = await tempOut();
  try {
    const dir = `${out}/ft-12345678`;
    const release = await claimStage(dir);
    const lock = JSON.parse(await Deno.readTextFile(`${dir}.lock`));
    assert.deepEqual(lock, { pid: Deno.pid, host: hostname() });
    await assert.rejects(() => claimStage(dir), {
      name: "StageBusy",
      message: `${dir} is being run by pid ${Deno.pid} on ${hostname()} (lock ${dir}.lock); ` +
        "wait for it, or remove the lock if that process is gone",
    });
    await release();
    const again = await claimStage(dir);
    await again();
  } finally {
    await removeOut(out);
  }
});

Deno.test("claimStage() takes over the lock of a dead process, and of a half-written lock", async () => {
  const out = await tempOut();
  try {
    const dir = `${out}/ft-12345678`;
    await Deno.writeTextFile(`${dir}.lock`, JSON.stringify({ pid: await deadPid(), host: hostname() }));
    const release = await claimStage(dir);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}.lock`)).pid, Deno.pid);
    await release();
    await Deno.writeTextFile(`${dir}.lock`, '{"pid": 12');
    await (await claimStage(dir))();
    // another host's lock cannot be checked from here: it is respected
    await Deno.writeTextFile(`${dir}.lock`, JSON.stringify({ pid: 1, host: "elsewhere" }));
    await assert.rejects(() => claimStage(dir), { name: "StageBusy" });
  } finally {
    await removeOut(out);
  }
});

import assert from "node:assert/strict";
import { hostname } from "node:os";
import { claimStage } from "../src/run/claim.ts";
import { removeOut, ROOT, tempOut } from "./fixtures/helpers.ts";

Deno.test("claimStage() holds a stage folder for one claim at a time and releases it", async () => {
  const out = await tempOut();
  try {
    const dir = `${out}/ft-12345678`;
    const release = await claimStage(dir);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/lock`)), { pid: Deno.pid, host: hostname() });
    await assert.rejects(() => claimStage(dir), {
      name: "StageBusy",
      message:
        `${dir} is being run by pid ${Deno.pid} on ${hostname()} (lock ${dir}/lock); wait for it to finish`,
    });
    await release();
    await (await claimStage(dir))();
  } finally {
    await removeOut(out);
  }
});

Deno.test("claimStage() claims at once a folder whose owner was killed", async () => {
  const out = await tempOut();
  try {
    const dir = `${out}/ft-12345678`;
    // a process that claims the folder, says so, and waits to be killed
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { claimStage } from "${ROOT}src/run/claim.ts"; await claimStage(${JSON.stringify(dir)}); ` +
        `console.log("claimed"); await new Promise(() => setInterval(() => {}, 1000));`,
      ],
      stdout: "piped",
      stdin: "null",
    }).spawn();
    const reader = child.stdout.getReader();
    assert.equal(new TextDecoder().decode((await reader.read()).value).trim(), "claimed");
    await assert.rejects(() => claimStage(dir), { name: "StageBusy" });
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
    const release = await claimStage(dir);
    assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/lock`)).pid, Deno.pid);
    await release();
  } finally {
    await removeOut(out);
  }
});

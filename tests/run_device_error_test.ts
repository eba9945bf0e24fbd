import assert from "node:assert/strict";
import { cli, exists, fixture, loadFixture, removeOut, stagePath, tempOut } from "./fixtures/helpers.ts";
import { testDevice } from "./_harness.ts";

Deno.test("a WebGPU error in an evaluate stage fails it with exit 1 and one line, never a number", async () => {
  const device = await testDevice();
  if (!device) return;
  // classes enough that the logits of 128 images need more than this device can bind (300,000 on lavapipe)
  const classes = Math.max(300000, Math.floor(device.limits.maxStorageBufferBindingSize / (128 * 4)) + 1000);
  const logits = 128 * classes * 4;
  const out = await tempOut();
  try {
    // a plan made for a device that binds twice the logits: the evaluate batch stays 128, and this
    // device's own limit is met while the stage runs (on main this printed a validation loss of 0, exit 0)
    const limits = `${out}/limits.json`;
    await Deno.writeTextFile(
      limits,
      JSON.stringify({ maxStorageBufferBindingSize: 2 * logits, maxBufferSize: 2 * logits }),
    );
    const set = ["--set", `model.classes=${classes}`];
    const r = await cli([fixture("wide_head.yaml"), "--out", out, "--limits", limits, ...set]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.match(lines[0], new RegExp(`^--limits ${limits}: planned for more than this device offers \\(`));
    const mib = (logits / 2 ** 20).toFixed(1);
    // WebGPU's own words (after the last colon) are the implementation's; the rest is exact
    assert.match(
      lines.at(-2)!,
      new RegExp(
        "^stage check \\(evaluate\\): WebGPU validation error while (binding the buffers of kernel \\w+ for " +
          `matmul matmul \\[128,${classes}\\] \\(largest binding ${mib} MiB\\)|allocating planned buffer .*` +
          `\\(${mib} MiB, .*\\)): .+; its summary is not written$`,
      ),
    );
    assert.equal(lines.at(-1), `partial results are in ${out}/wide_head`);
    assert.equal(lines.filter((l) => l.startsWith("stage check")).length, 1);
    // the train stage finished; the evaluate stage wrote no summary, and no loss was printed
    const spec = await loadFixture("wide_head.yaml");
    const specSet = { ...spec, model: { ...spec.model, classes } };
    assert.ok(await exists(`${await stagePath(out, specSet, "pre")}/summary.json`));
    assert.equal(await exists(`${await stagePath(out, specSet, "check")}/summary.json`), false);
    assert.ok(!r.stdout.includes("check: validation loss"), r.stdout);
  } finally {
    await removeOut(out);
  }
});

import assert from "node:assert/strict";
import { testDevice } from "./_harness.ts";
import { ROOT } from "./fixtures/helpers.ts";

const LINUX = Deno.build.os === "linux";

/** The native libraries a fresh process has mapped after `code` ran, and what it printed. */
async function fresh(
  code: string,
  env: Record<string, string> = {},
  flags = ["-A"],
): Promise<{ libs: string[]; out: string }> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(
    file,
    `${code}
// reading /proc/self/maps needs -A: a process run with less reports no libraries
const maps = await Deno.readTextFile("/proc/self/maps").catch(() => "");
const libs = new Set(maps.split("\\n").map((l) => l.split(/\\s+/)[5] ?? "").filter((p) => p.includes(".so")));
console.log(JSON.stringify([...libs].map((p) => p.split("/").pop())));`,
  );
  const { code: status, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, file],
    cwd: ROOT,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
      NO_COLOR: "1",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(file));
  const text = new TextDecoder();
  assert.equal(status, 0, text.decode(stderr));
  const lines = text.decode(stdout).trim().split("\n");
  return { libs: JSON.parse(lines.pop()!), out: lines.join("\n") };
}

Deno.test({
  name:
    "gpu() on Linux opens Vulkan alone: no libEGL or GL driver in the process (their exit destructor races)",
  ignore: !LINUX,
  fn: async () => {
    if (!(await testDevice())) return;
    const { libs, out } = await fresh(`
import { gpu } from "${ROOT}/src/gpu/device.ts";
const g = await gpu();
console.log(Deno.env.get("DENO_WEBGPU_BACKEND"), g.adapter.description);`);
    assert.ok(libs.some((l) => /^libvulkan\.so/.test(l)), libs.join(" "));
    const gl = libs.filter((l) => /^libEGL|_dri\.so$|^libGLX|^libglapi/.test(l));
    assert.deepEqual(gl, []);
    assert.match(out, /^vulkan /);
  },
});

Deno.test({
  name: "selectBackend() keeps a backend the user set, and without env permission touches nothing",
  ignore: !LINUX,
  fn: async () => {
    const choose = `import { selectBackend } from "${ROOT}/src/host/webgpu_backend.ts";
console.log(JSON.stringify([selectBackend(), Deno.env.get("DENO_WEBGPU_BACKEND") ?? null]));`;
    const kept = await fresh(choose, { DENO_WEBGPU_BACKEND: "vulkan,gl" });
    assert.deepEqual(JSON.parse(kept.out), [{ value: "vulkan,gl", setHere: false }, "vulkan,gl"]);
    const set = await fresh(choose);
    assert.deepEqual(JSON.parse(set.out), [{ value: "vulkan", setHere: true }, "vulkan"]);
    const bare = await fresh(
      `import { selectBackend } from "${ROOT}/src/host/webgpu_backend.ts";
const c = selectBackend();
console.log(JSON.stringify([c.value ?? null, c.setHere]));`,
      {},
      ["--allow-read", "--no-prompt"],
    );
    assert.deepEqual(JSON.parse(bare.out), [null, false]);
  },
});
